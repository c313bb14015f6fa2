from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from instapods.kit.schema import Schema, Timestamp
from instapods.kit.text import Email, Password, PersonName, Secret


class UserOut(Schema):
    id: str
    email: str
    name: str | None
    email_verified: bool
    current_team_id: str | None
    created_at: Timestamp


class AuthOut(Schema):
    user: UserOut
    token: str = Field(description="Bearer token (`ipt_…`); also set as the session cookie.")


class RegisterIn(Schema):
    email: Email
    password: Password
    name: PersonName | None = None


class LoginIn(Schema):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class ForgotPasswordIn(Schema):
    email: Email


class ResetPasswordIn(Schema):
    token: Secret
    password: Password


class TokenIn(Schema):
    token: Secret
