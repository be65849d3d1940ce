"""HTTP models of authentication, API keys, usage, sharing and administration."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ("KeyCreate", "KeyCreated", "KeyList", "KeyOut", "LoginRequest", "RefreshRequest",
           "ShareOut", "ShareRequest", "TokenPair", "UsageOut", "UserCreate", "UserList",
           "UserOut")


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(None, min_length=1, max_length=200, description="the "
                               "tenant to sign in to, when the email is a user of several")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class KeyCreate(BaseModel):
    name: str = Field("", max_length=200)


class KeyOut(BaseModel):
    prefix: str
    name: str
    user_id: str
    created_at: datetime
    revoked: bool


class KeyCreated(KeyOut):
    key: str = Field(description="the whole key, shown this once only")


class KeyList(BaseModel):
    data: list[KeyOut]


class UserCreate(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["admin", "member"] = "member"


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
