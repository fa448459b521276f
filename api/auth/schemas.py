"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    role: str
    person_id: str | None  # set for drivers only: the pseudonymous id of their own data
    must_change_password: bool = False  # an admin set the password: no data until it is changed


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class SignedOut(BaseModel):
    revoked: bool
