// Syntax highlighting for code blocks: a one-pass tokenizer per language family that
// wraps comments, strings, numbers, keywords and literals in spans. Text only ever goes
// in through text nodes.

const C_LIKE = { line: "//", block: true };
const HASH = { line: "#", block: false };

const words = (s) => new Set(s.split(" "));

const LANGS = {
  js: {
    ...C_LIKE, template: true,
    keywords: words("async await break case catch class const continue debugger default delete do else export extends finally for from function if import in instanceof let new of return static super switch this throw try typeof var void while with yield interface type enum implements private public protected readonly as"),
    literals: words("true false null undefined NaN Infinity"),
  },
  python: {
    ...HASH, triple: true,
    keywords: words("and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case"),
    literals: words("True False None self"),
  },
  shell: {
    ...HASH,
    keywords: words("if then else elif fi for while until do done case esac in function return export local echo cd exit set unset source"),
    literals: words("true false"),
  },
  go: {
    ...C_LIKE, template: true,
    keywords: words("break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var"),
    literals: words("true false nil iota"),
  },
  rust: {
    ...C_LIKE,
    keywords: words("as async await break const continue crate dyn else enum extern fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait type unsafe use where while"),
    literals: words("true false None Some Ok Err"),
  },
  c: {
    ...C_LIKE,
    keywords: words("auto break case catch char class const continue default delete do double else enum extern final float for friend if inline int long namespace new operator private protected public return short signed sizeof static struct switch template this throw try typedef union unsigned using virtual void volatile while boolean byte extends implements import instanceof interface package super synchronized var string bool"),
    literals: words("true false null nullptr NULL"),
  },
  sql: {
    line: "--", block: true, caseless: true,
    keywords: words("select from where and or not insert into values update set delete create table index drop alter join left right inner outer on group by order having limit offset as distinct union all primary key references null is in like between case when then else end with returning"),
    literals: words("true false null"),
  },
  yaml: { ...HASH, keywords: new Set(), literals: words("true false null yes no on off") },
  json: { line: null, block: false, keywords: new Set(), literals: words("true false null") },
};

const ALIASES = {
  javascript: "js", mjs: "js", ts: "js", typescript: "js", jsx: "js", tsx: "js",
  py: "python", python3: "python", sh: "shell", bash: "shell", zsh: "shell", console: "shell",
  golang: "go", rs: "rust", cpp: "c", "c++": "c", h: "c", java: "c", cs: "c", csharp: "c",
  kotlin: "c", swift: "c", yml: "yaml", toml: "yaml", ini: "yaml",
};

const GENERIC = { line: null, block: false, keywords: new Set(), literals: new Set() };

function tokenizer(spec) {
  const parts = [];
  if (spec.block) parts.push(String.raw`(\/\*[\s\S]*?(?:\*\/|$))`);
  else parts.push("((?!))"); // a group that never matches keeps the numbers stable
  if (spec.line) parts.push(`(${escape(spec.line)}[^\\n]*)`);
  else parts.push("((?!))");
  const strings = [];
  if (spec.triple) strings.push(String.raw`"""[\s\S]*?(?:"""|$)`, String.raw`'''[\s\S]*?(?:'''|$)`);
  strings.push(String.raw`"(?:\\.|[^"\\\n])*"?`, String.raw`'(?:\\.|[^'\\\n])*'?`);
  if (spec.template) strings.push(String.raw`\`(?:\\.|[^\`\\])*\`?`);
  parts.push(`(${strings.join("|")})`);
  parts.push(String.raw`(\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)\b)`);
  parts.push(String.raw`([A-Za-z_$][\w$]*)`);
  return new RegExp(parts.join("|"), "g");
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

const cache = new Map();

/** `code` as a fragment of text and highlighted spans, for a `lang` fence name. */
export function highlight(code, lang) {
  const key = ALIASES[lang] ?? lang;
  const spec = LANGS[key] ?? GENERIC;
  if (!cache.has(spec)) cache.set(spec, tokenizer(spec));
  const re = cache.get(spec);
  re.lastIndex = 0;
  const out = document.createDocumentFragment();
  let at = 0;
  const span = (cls, text) => {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    out.append(s);
  };
  for (let m = re.exec(code); m !== null; m = re.exec(code)) {
    if (m[0] === "") {
      re.lastIndex++;
      continue;
    }
    if (m.index > at) out.append(document.createTextNode(code.slice(at, m.index)));
    at = m.index + m[0].length;
    if (m[1] || m[2]) span("tok-com", m[0]);
    else if (m[3]) span("tok-str", m[0]);
    else if (m[4]) span("tok-num", m[0]);
    else {
      const word = spec.caseless ? m[0].toLowerCase() : m[0];
      if (spec.keywords.has(word)) span("tok-kw", m[0]);
      else if (spec.literals.has(word)) span("tok-lit", m[0]);
      else if (code[at] === "(") span("tok-fn", m[0]);
      else out.append(document.createTextNode(m[0]));
    }
  }
  if (at < code.length) out.append(document.createTextNode(code.slice(at)));
  return out;
}
