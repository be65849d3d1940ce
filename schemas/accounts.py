"""HTTP models of authentication, API keys, usage, sharing and administration."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

__all__ = (
    "KeyCreate",
    "KeyCreated",
    "KeyList",
    "KeyOut",
    "LoginRequest",
    "LogoutRequest",
    "PasswordChange",
    "RefreshRequest",
    "ShareOut",
    "ShareRequest",
    "TokenPair",
    "UsageOut",
    "UserChange",
    "UserCreate",
    "UserList",
    "UserOut",
)


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(None, min_length=1, max_length=200, description="the "
                               "tenant to sign in to, when the email is a user of several")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(BaseModel):
    everywhere: bool = Field(False, description="end every session of the caller's, not "
                             "only this one")


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


KeyScope = Literal["chat", "documents", "embeddings", "batches", "usage"]


class KeyCreate(BaseModel):
    name: str = Field("", max_length=200)
    scopes: list[KeyScope] | None = Field(
        None, min_length=1, description="what the key may do: `chat` (conversations, "
        "messages, streams, chat completions, responses, assistants to read), `documents`, "
        "`embeddings`, `batches`, `usage`; absent: all of them. No key can create keys, "
        "change users or plans, log in or out, or share a conversation publicly")
    expires_at: AwareDatetime | None = Field(None, description="when the key stops "
                                             "working, with its time zone (absent: when it "
                                             "is revoked)")


class KeyOut(BaseModel):
    prefix: str
    name: str
    user_id: str
    created_at: datetime
    revoked: bool
    scopes: list[str]
    expires_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="the whole key, shown this once only")


class KeyList(BaseModel):
    data: list[KeyOut]


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "member"] = "member"


class UserChange(BaseModel):
    role: Literal["admin", "member"] | None = None
    password: str | None = Field(None, min_length=8, max_length=1024)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class UserOut(BaseModel):
    id: str
    email: str
    role: str
    created_at: datetime


class UserList(BaseModel):
    data: list[UserOut]


class UsageOut(BaseModel):
    plan: str
    month: str
    limits: dict[str, int | None]
    used: dict[str, int]
    users: dict[str, dict[str, int]] | None = None


class ShareRequest(BaseModel):
    public: bool = True


class ShareOut(BaseModel):
    public: bool
    url: str | None = None
