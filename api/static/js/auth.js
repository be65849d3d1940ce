// Signing in (AUTH=jwt). The access token lives in memory only; the refresh token is
// kept in sessionStorage so a reload of this tab stays signed in, and is good once: the
// edge refuses a used one and revokes its family, so a reused token signs the user out.
// Tokens are renewed shortly before the access token expires.

const KEY = "chatstream.session";
const EARLY_S = 30; // renew this long before expiry

export const events = new EventTarget();

const session = {
  access: null,
  refresh: null,
  email: null,
  claims: null, // {sub, tid, role} of the access token, for showing who is signed in
};
let timer = 0;
let refreshing = null;
let endedBecause = ""; // why the last session ended, for the sign-in form

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

function store() {
  if (session.refresh) {
    sessionStorage.setItem(KEY, JSON.stringify({ refresh: session.refresh, email: session.email }));
  } else {
    sessionStorage.removeItem(KEY);
  }
}

function adopt(pair) {
  session.access = pair.access_token;
  session.refresh = pair.refresh_token;
  session.claims = claimsOf(pair.access_token);
  store();
  clearTimeout(timer);
  const wait = Math.max(5, (pair.expires_in ?? 900) - EARLY_S) * 1000;
  timer = setTimeout(() => { renew().catch(() => {}); }, wait);
  events.dispatchEvent(new Event("change"));
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    const exc = new Error(error.message ?? `HTTP ${response.status}`);
    exc.status = response.status;
    exc.code = error.code ?? "error";
    exc.retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw exc;
  }
  return data;
}

export function signedIn() {
  return Boolean(session.access);
}

export function who() {
  return session.claims ? { email: session.email, tenant: session.claims.tid,
                            user: session.claims.sub, role: session.claims.role } : null;
}

export function authHeader() {
  return session.access ? { Authorization: `Bearer ${session.access}` } : {};
}

/** `tenant`: which organisation, when the email belongs to several (else ""). */
export async function signIn(email, password, tenant = "") {
  const body = tenant ? { email, password, tenant } : { email, password };
  const pair = await post("/v1/auth/token", body);
  session.email = email.trim().toLowerCase();
  adopt(pair);
}

/** A new access token from the refresh token; false (and signed out) when refused. */
export function renew() {
  if (!session.refresh) return Promise.resolve(false);
  // One renewal at a time: two would spend the same refresh token twice.
  refreshing ??= post("/v1/auth/refresh", { refresh_token: session.refresh })
    .then((pair) => { adopt(pair); return true; })
    .catch((exc) => {
      if (exc.status === 401) {
        signOut(exc.code === "refresh_reused"
          ? "This session was used elsewhere and has been ended: sign in again."
          : "Your session has ended: sign in again.");
      }
      return false;
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

/** Why the last session ended ("" if it did not), once. */
export function takeReason() {
  const reason = endedBecause;
  endedBecause = "";
  return reason;
}

/** End this session on the server too (its tokens stop working), then sign out here. */
export async function logOut() {
  if (session.access) {
    await fetch("/v1/auth/logout", { method: "POST", headers: authHeader() }).catch(() => {});
  }
  signOut();
}

export function signOut(reason = "") {
  clearTimeout(timer);
  endedBecause = reason;
  session.access = session.refresh = session.claims = null;
  store();
  events.dispatchEvent(new Event("signedout"));
  events.dispatchEvent(new Event("change"));
}

/** Resume this tab's session after a reload; true when signed in again. */
export async function restore() {
  const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  if (!saved?.refresh) return false;
  session.refresh = saved.refresh;
  session.email = saved.email;
  return renew();
}
