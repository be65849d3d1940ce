"""What an API key may do: the routes of its scopes, and never those that change
accounts (keys, users, plans, logins, sessions) or publish a conversation. A key that
leaks can then do no more than its scopes say, and cannot outlive its own revocation by
minting another key or a public link."""

from __future__ import annotations

from typing import get_args

from schemas.accounts import KeyScope

__all__ = ("KEY_SCOPES", "ROUTES", "scope_of")

KEY_SCOPES: tuple[str, ...] = get_args(KeyScope)
# Each scope's routes, by path prefix. Every route not listed is refused to keys.
ROUTES: dict[str, tuple[str, ...]] = {
    "chat": ("/v1/conversations", "/v1/requests", "/v1/chat/completions", "/v1/responses"),
    "documents": ("/v1/documents",),
    "embeddings": ("/v1/embeddings",),
    "batches": ("/v1/batches",),
    "usage": ("/v1/usage",),
}
# Open to every key, to read: what the models are, and whom the key belongs to.
_ANY_KEY = ("/v1/models", "/v1/me")
_READS = ("GET", "HEAD")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def scope_of(method: str, path: str) -> str | None:
    """The scope a key needs for this request (``""``: any key), or ``None`` when no
    key may make it."""
    if path.endswith("/share"):
        return None  # a public link would outlive the key
    if method == "DELETE" and path.startswith("/v1/keys/"):
        return ""  # revoking itself (api/routes/keys.py lets a key revoke no other)
    if path in _ANY_KEY or _under(path, "/v1/models"):
        return "" if method in _READS else None
    if _under(path, "/v1/assistants"):
        return "chat" if method in _READS else None  # admins write them
    for scope, prefixes in ROUTES.items():
        if any(_under(path, p) for p in prefixes):
            return scope
    return None
