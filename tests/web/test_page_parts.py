"""The page's parts in the browser, without waiting for answers: the Markdown renderer,
the answer's states (restart, error, stop, block), the phone layout, keyboard use and
themes; and how the edge serves the page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.stacks import Stack
from tests.web.chat import open_page

RENDER = """async (source) => {
  const { renderMarkdown } = await import("/static/js/markdown.js");
  const div = document.createElement("div");
  renderMarkdown(source, div);
  return div.innerHTML;
}"""


@pytest.mark.parametrize(("source", "html"), [
    ("**bold**, *em*, _em_, ~~gone~~ and `a < b`",
     "<p><strong>bold</strong>, <em>em</em>, <em>em</em>, <del>gone</del> and "
     "<code>a &lt; b</code></p>"),
    ("<b>hi</b> & <script>alert(1)</script>",
     "<p>&lt;b&gt;hi&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("[x](javascript:alert(1)) [y](https://example.com/a?b=1)",
     '<p><span>x</span> <a href="https://example.com/a?b=1" target="_blank" '
     'rel="noopener noreferrer">y</a></p>'),
    ("# Title\n\n- one\n- two\n  - nested\n\n3. three\n4. four",
     "<h3>Title</h3><ul><li>one</li><li><p>two</p><ul><li>nested</li></ul></li></ul>"
     '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("> quoted\n\n---\n\n| a | b |\n|---|---|\n| 1 | <i> |",
     "<blockquote><p>quoted</p></blockquote><hr><div class=\"table-wrap\"><table><thead><tr>"
     '<th scope="col">a</th><th scope="col">b</th></tr></thead><tbody><tr><td>1</td>'
     "<td>&lt;i&gt;</td></tr></tbody></table></div>"),
    ("line one\nline two", "<p>line one<br>line two</p>"),
    ("snake_case_name and 2 * 3 * 4", "<p>snake_case_name and 2 * 3 * 4</p>"),
    # Written as relative but resolved off the site (a backslash reads as a slash):
    # text, not a link that leaves in the same tab.
    ("[x](/\\evil.example/phish) [y](<//evil.example/a>) [z](/\\/evil.example)",
     "<p><span>x</span> <span>y</span> <span>z</span></p>"),
])
async def test_markdown_renders_safely(page: Page, web_stack: Stack, source: str,
                                       html: str) -> None:
    await open_page(page, web_stack.url)
    assert await page.evaluate(RENDER, source) == html


async def test_links_within_the_site_stay_in_the_tab(page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    html = await page.evaluate(RENDER, "[here](/docs) and [there](#/c/abc)")
    origin = web_stack.url.rstrip("/")
    assert html == (f'<p><a href="{origin}/docs">here</a> and '
                    f'<a href="{origin}/#/c/abc">there</a></p>')


DEPTH = """async (source) => {
  const { renderMarkdown } = await import("/static/js/markdown.js");
  const div = document.createElement("div");
  renderMarkdown(source, div);
  let deepest = 0;
  for (const node of div.querySelectorAll("*")) {
    let d = 0;
    for (let n = node; n !== div; n = n.parentElement) d++;
    deepest = Math.max(deepest, d);
  }
  return {deepest, text: div.textContent.includes("deep enough")};
}"""


@pytest.mark.parametrize("source", [
    ">" * 8000 + " deep enough",
    "".join(f"{'  ' * i}- item\n" for i in range(3000)) + "  " * 3000 + "- deep enough",
    "*_" * 4000 + "deep enough" + "_*" * 4000,
])
async def test_deep_nesting_renders_bounded_instead_of_throwing(
        page: Page, web_stack: Stack, source: str) -> None:
    await open_page(page, web_stack.url)
    got = await page.evaluate(DEPTH, source)
    assert got["deepest"] <= 40 and got["text"], got


async def test_code_blocks_are_highlighted_even_while_still_streaming(
        page: Page, web_stack: Stack) -> None:
    await open_page(page, web_stack.url)
    html = await page.evaluate(RENDER, '```python\ndef f(x):\n    return "<x>"  # hi\n```')
    assert '<span class="tok-kw">def</span> <span class="tok-fn">f</span>(x):' in html
    assert '<span class="tok-str">"&lt;x&gt;"</span>' in html
    assert '<span class="tok-com"># hi</span>' in html
    assert '<span class="lang">python</span>' in html and "Copy" in html
    # No closing fence yet: the code so far is still a code block.
    streaming = await page.evaluate(RENDER, "Here:\n```js\nconst n = 42;")
    assert '<span class="tok-kw">const</span> n = <span class="tok-num">42</span>;' in streaming


ANSWER = """async (events) => {
  const { Answer } = await import("/static/js/answer.js");
  const a = new Answer("r1");
  document.getElementById("messages").append(a.element);
  for (const [name, data, id] of events) a.apply(name, data, id);
  a.render();
  return {text: a.body.textContent, state: a.element.dataset.state,
          notes: a.notes.textContent, ending: a.ending.hidden ? null : a.ending.textContent,
          sources: a.sources.hidden ? null : a.sources.textContent,
          tools: a.tools.hidden ? null : a.tools.textContent,
          busy: a.element.getAttribute("aria-busy")};
}"""

GENERATING = ("status", {"state": "generating", "model": "local", "provider": "local"}, 1)


@pytest.mark.parametrize(("events", "expected"), [
    # A repeated event (same id) adds nothing.
    ([GENERATING, ("token", {"text": "Hello ", "seq": 1}, 2),
      ("token", {"text": "Hello ", "seq": 1}, 2), ("token", {"text": "world", "seq": 2}, 3),
      ("done", {"finish_reason": "stop", "usage": {"completion_tokens": 2}}, 4)],
     {"text": "Hello world", "state": "done", "notes": "", "ending": None, "busy": "false"}),
    # A restart drops the partial text and its citations, and says so.
    ([GENERATING, ("citations", {"citations": [
        {"document_id": "d1", "title": "Old", "chunk": 0}]}, 2),
      ("token", {"text": "Partial", "seq": 1}, 3), ("restart", {"attempt": 2}, 4),
      ("status", {"state": "generating", "model": "local", "provider": "local"}, 5),
      ("citations", {"citations": [{"document_id": "d2", "title": "New", "chunk": 2}]}, 6),
      ("token", {"text": "Again", "seq": 1}, 7),
      ("done", {"finish_reason": "stop", "usage": {}}, 8)],
     {"text": "Again", "state": "done", "sources": "SourcesNew passage 3",
      "notes": "The answer was interrupted and starts over."}),
    ([GENERATING, ("token", {"text": "So far", "seq": 1}, 2),
      ("done", {"finish_reason": "cancelled", "usage": {}}, 3)],
     {"text": "So far", "state": "stopped", "ending": "Stopped"}),
    ([GENERATING, ("done", {"finish_reason": "blocked", "usage": {}}, 2)],
     {"state": "blocked", "ending": "Blocked by the prompt guard"}),
    ([GENERATING, ("token", {"text": "Half", "seq": 1}, 2),
      ("error", {"code": "provider_unavailable", "message": "every model failed"}, 3)],
     {"text": "Half", "state": "error", "busy": "false",
      "notes": "The answer failed: every model failed (provider_unavailable)"}),
    ([GENERATING, ("token", {"text": "Going", "seq": 1}, 2)],
     {"text": "Going", "state": "streaming", "busy": "true"}),
    # A tool call is a small card: the function and its arguments, pretty printed.
    ([GENERATING, ("tool_calls", {"index": 0, "id": "call_1", "name": "get_weather",
                                  "arguments": '{"city":', "seq": 1}, 2),
      ("tool_calls", {"index": 0, "id": None, "name": None, "arguments": ' "Paris"}',
                      "seq": 2}, 3),
      ("done", {"finish_reason": "tool_calls", "usage": {}}, 4)],
     {"state": "done", "tools": 'Tool callget_weather{\n  "city": "Paris"\n}',
      "ending": "The model asked to call a tool"}),
])
async def test_answer_states(page: Page, web_stack: Stack, events: list[Any],
                             expected: dict[str, Any]) -> None:
    await open_page(page, web_stack.url)
    got = await page.evaluate(ANSWER, events)
    assert {k: got[k] for k in expected} == expected


async def test_phone_width_drawer_and_keyboard_only_use(phone: Page, web_stack: Stack) -> None:
    await open_page(phone, web_stack.url)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390

    # The message box has the focus from the start; from the top of the page, the skip
    # link leads to it. Keyboard only: Enter sends.
    box = phone.get_by_label("Message", exact=True)
    await expect(box).to_be_focused()
    skip = phone.get_by_role("link", name="Skip to the message box")
    await skip.focus()
    await expect(skip).to_be_in_viewport()  # shown while it has the focus
    await phone.keyboard.press("Enter")
    await expect(box).to_be_focused()
    await phone.keyboard.type("Note that the ferry leaves at nine.")
    await phone.keyboard.press("Shift+Enter")
    await phone.keyboard.type("And returns at six.")
    await expect(box).to_have_value("Note that the ferry leaves at nine.\nAnd returns at six.")
    await phone.keyboard.press("Enter")
    answer = phone.locator("article.msg.assistant")
    await expect(answer).to_have_attribute("data-state", "done", timeout=60_000)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390

    # The sidebar is a drawer: the menu button opens it, Escape closes it.
    drawer = phone.get_by_role("complementary", name="Conversations and documents")
    menu = phone.get_by_role("button", name="Conversations and documents")
    await expect(drawer).to_be_hidden()
    await menu.click()
    await expect(drawer).to_be_visible()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await expect(phone.get_by_role("button", name="New chat")).to_be_focused()
    title = "Note that the ferry leaves at nine"  # written by the (offline) model
    await expect(drawer.get_by_role("link", name=title)).to_be_visible()
    await phone.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(menu).to_be_focused()
    await expect(menu).to_have_attribute("aria-expanded", "false")


BACKGROUND = "getComputedStyle(document.body).backgroundColor"


async def test_dark_and_light_follow_the_system_until_chosen(page: Page,
                                                             web_stack: Stack) -> None:
    await page.emulate_media(color_scheme="dark")
    await open_page(page, web_stack.url)
    assert await page.evaluate(BACKGROUND) == "rgb(21, 23, 28)"
    theme = page.get_by_role("button", name="Theme: system")
    await theme.click()
    await expect(page.get_by_role("button", name="Theme: light")).to_be_visible()
    assert await page.evaluate(BACKGROUND) == "rgb(247, 247, 248)"
    await page.reload()  # the choice is remembered
    await expect(page.get_by_role("button", name="Theme: light")).to_be_visible()
    assert await page.evaluate(BACKGROUND) == "rgb(247, 247, 248)"
    await page.get_by_role("button", name="Theme: light").click()
    assert await page.evaluate(BACKGROUND) == "rgb(21, 23, 28)"


async def test_the_edge_serves_the_page_and_its_assets(api: httpx.AsyncClient) -> None:
    r = await api.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert '<script type="module" src="/static/js/app.js">' in r.text
    js = await api.get("/static/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert js.headers["cache-control"] == "no-cache" and js.headers["etag"]
    missing = await api.get("/static/js/nothing.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
