"""Credentials: password hashes, JWTs, API keys, and encryption of tenants' provider keys.

- Passwords: argon2id (slow on purpose: people reuse weak passwords).
- API keys ``cs_<prefix>_<secret>``: 256 random bits, so a fast keyed hash (HMAC-SHA256
  with a server key) is as safe as a slow one: there is no dictionary to try. The prefix
  is the key's public id, looked up directly, and shown in listings.
- JWTs: HS256 only; any other ``alg`` (``none`` included) is refused before decoding.
  Each names its issuer and audience (``JWT_ISSUER``, ``JWT_AUDIENCE``, both checked),
  its session (``sid``: the login it descends from) and when that login happened
  (``auth_time``), which :mod:`api.guards.sessions` checks against what revokes it.
- Hashing runs on a few threads of its own with a bounded queue: a login flood waits
  or gets 503, it never holds 64 MiB per request nor starves the default thread pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from api.errors import ApiError
from kernel.settings import Settings

__all__ = ("Claims", "Credentials", "unauthorized")

ALGORITHM = "HS256"
_KEY_PREFIX_BYTES = 6
T = TypeVar("T")


def unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True, slots=True)
class Claims:
    tenant_id: str
    user_id: str
    role: str
    jti: str
    # The session: the login this token descends from (its first refresh token's jti).
    session: str
    # When that login happened (epoch seconds).
    auth_time: float


class Credentials:
    def __init__(self, settings: Settings) -> None:
        secret = settings.jwt_secret.get_secret_value().encode()
        self._jwt_key = hmac.new(secret, b"chatstream jwt", hashlib.sha256).digest()
        self._key_hmac = hmac.new(secret, b"chatstream api keys", hashlib.sha256).digest()
        self._access_ttl = settings.access_token_ttl_s
        self.refresh_ttl = settings.refresh_token_ttl_s
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._hasher = PasswordHasher()
        self._hash_pool = ThreadPoolExecutor(settings.password_hash_workers,
                                             thread_name_prefix="argon2")
        self._hash_slots = settings.password_hash_workers + settings.password_hash_queue
        self._hashing = 0
        key = settings.credentials_key.get_secret_value()
        self._fernet = Fernet(key.encode()) if key else None

    # -- passwords -------------------------------------------------------------------

    async def _hash(self, work: Callable[[], T]) -> T:
        if self._hashing >= self._hash_slots:
            raise ApiError(503, "busy", "too many logins at once; retry shortly",
                           headers={"Retry-After": "1"})
        self._hashing += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._hash_pool, work)
        finally:
            self._hashing -= 1

    async def hash_password(self, password: str) -> str:
        return await self._hash(lambda: self._hasher.hash(password))

    async def check_password(self, stored: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False
        return await self._hash(verify)

    # -- tokens ----------------------------------------------------------------------

    def _encode(self, claims: dict[str, Any], ttl: int) -> str:
        now = int(time.time())
        return jwt.encode({**claims, "iat": now, "exp": now + ttl, "iss": self._issuer,
                           "aud": self._audience}, self._jwt_key, algorithm=ALGORITHM)

    def issue(self, tenant_id: str, user_id: str, role: str,
              session: Claims | None = None) -> tuple[str, str, str]:
        """An access token, a refresh token, and the refresh token's id. ``session``: the
        refresh token's claims when refreshing (the new tokens stay in its session); a
        login starts a session of its own."""
        jti = uuid.uuid4().hex
        # In milliseconds, rounded up: a login right after its user's sessions were
        # ended (a password change) is never taken for one from before.
        sid, auth_time = (session.session, session.auth_time) if session else (
            jti, math.ceil(time.time() * 1000) / 1000)
        base = {"sub": user_id, "tid": tenant_id, "role": role, "sid": sid,
                "auth_time": auth_time}
        access = self._encode({**base, "typ": "access", "jti": uuid.uuid4().hex},
                              self._access_ttl)
        refresh = self._encode({**base, "typ": "refresh", "jti": jti}, self.refresh_ttl)
        return access, refresh, jti

    @property
    def access_ttl(self) -> int:
        return self._access_ttl

    def verify(self, token: str, kind: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise unauthorized("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise unauthorized(f"tokens are signed with {ALGORITHM} only")
        try:
            claims = jwt.decode(token, self._jwt_key, algorithms=[ALGORITHM],
                                audience=self._audience, issuer=self._issuer,
                                options={"require": ["exp", "iat", "sub", "jti", "iss",
                                                     "aud"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired", "token_expired") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise unauthorized("this token was issued for another service") from None
        except jwt.InvalidTokenError:
            raise unauthorized("invalid token") from None
        if (claims.get("typ") != kind or not isinstance(claims.get("tid"), str)
                or not isinstance(claims.get("sid"), str)
                or not isinstance(claims.get("auth_time"), int | float)):
            raise unauthorized(f"not an {kind} token")
        return Claims(claims["tid"], claims["sub"], str(claims.get("role", "member")),
                      claims["jti"], claims["sid"], float(claims["auth_time"]))

    # -- API keys --------------------------------------------------------------------

    def key_digest(self, secret: str) -> str:
        return hmac.new(self._key_hmac, secret.encode(), hashlib.sha256).hexdigest()

    def new_key(self) -> tuple[str, str, str]:
        """The whole key (shown once), its prefix, and the digest kept in the store."""
        prefix = secrets.token_hex(_KEY_PREFIX_BYTES)
        secret = secrets.token_urlsafe(32)
        return f"cs_{prefix}_{secret}", prefix, self.key_digest(secret)

    @staticmethod
    def split_key(key: str) -> tuple[str, str] | None:
        head, _, rest = key.partition("_")
        prefix, _, secret = rest.partition("_")
        if head != "cs" or len(prefix) != 2 * _KEY_PREFIX_BYTES or not secret:
            return None
        return prefix, secret

    def key_matches(self, digest: str, secret: str) -> bool:
        return hmac.compare_digest(digest, self.key_digest(secret))

    # -- shares and provider credentials --------------------------------------------

    @staticmethod
    def share_token() -> str:
        """Random, never derived: a link taken down stays dead when the conversation is
        shared again, and knowing the server secret does not reveal any."""
        return secrets.token_urlsafe(30)

    def encrypt(self, plaintext: str) -> str:
        if self._fernet is None:
            raise ApiError(409, "no_credentials_key",
                           "this deployment has no CHATSTREAM_CREDENTIALS_KEY")
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        if self._fernet is None:
            raise ApiError(409, "no_credentials_key",
                           "this deployment has no CHATSTREAM_CREDENTIALS_KEY")
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ApiError(500, "credentials_unreadable",
                           "stored credentials cannot be decrypted with this key") from exc
