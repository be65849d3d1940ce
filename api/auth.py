"""Credentials: password hashes, JWTs, API keys, and encryption of tenants' provider keys.

- Passwords: argon2id (slow on purpose: people reuse weak passwords).
- API keys ``cs_<prefix>_<secret>``: 256 random bits, so a fast keyed hash (HMAC-SHA256
  with a server key) is as safe as a slow one: there is no dictionary to try. The prefix
  is the key's public id, looked up directly, and shown in listings.
- JWTs: HS256 only; any other ``alg`` (``none`` included) is refused before decoding.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from api.errors import ApiError
from kernel.settings import Settings

__all__ = ("Claims", "Credentials", "unauthorized")

ALGORITHM = "HS256"
_KEY_PREFIX_BYTES = 6


def unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True, slots=True)
class Claims:
    tenant_id: str
    user_id: str
    role: str
    jti: str


class Credentials:
    def __init__(self, settings: Settings) -> None:
        secret = settings.jwt_secret.get_secret_value().encode()
        self._jwt_key = hmac.new(secret, b"chatstream jwt", hashlib.sha256).digest()
        self._key_hmac = hmac.new(secret, b"chatstream api keys", hashlib.sha256).digest()
        self._share_hmac = hmac.new(secret, b"chatstream shares", hashlib.sha256).digest()
        self._access_ttl = settings.access_token_ttl_s
        self.refresh_ttl = settings.refresh_token_ttl_s
        self._hasher = PasswordHasher()
        key = settings.credentials_key.get_secret_value()
        self._fernet = Fernet(key.encode()) if key else None

    # -- passwords -------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def check_password(self, stored: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False
        return await asyncio.to_thread(verify)

    # -- tokens ----------------------------------------------------------------------

    def _encode(self, claims: dict[str, Any], ttl: int) -> str:
        now = int(time.time())
        return jwt.encode({**claims, "iat": now, "exp": now + ttl}, self._jwt_key,
                          algorithm=ALGORITHM)

    def issue(self, tenant_id: str, user_id: str, role: str) -> tuple[str, str, str]:
        """An access token, a refresh token, and the refresh token's id."""
        base = {"sub": user_id, "tid": tenant_id, "role": role}
        access = self._encode({**base, "typ": "access", "jti": uuid.uuid4().hex},
                              self._access_ttl)
        jti = uuid.uuid4().hex
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
                                options={"require": ["exp", "iat", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired", "token_expired") from None
        except jwt.InvalidTokenError:
            raise unauthorized("invalid token") from None
        if claims.get("typ") != kind or not isinstance(claims.get("tid"), str):
            raise unauthorized(f"not an {kind} token")
        return Claims(claims["tid"], claims["sub"], str(claims.get("role", "member")),
                      claims["jti"])

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

    def share_token(self, tenant_id: str, conversation_id: str) -> str:
        """Unguessable without the server secret, and the same for one conversation, so
        unsharing needs no lookup table."""
        mac = hmac.new(self._share_hmac, f"{tenant_id}\0{conversation_id}".encode(),
                       hashlib.sha256)
        return mac.hexdigest()[:40]

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
