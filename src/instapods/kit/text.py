"""Validated string types for request schemas: bounded, trimmed, no control characters."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, StringConstraints


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _no_control(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in value):
        raise ValueError("must not contain control characters")
    return unicodedata.normalize("NFC", value)


def _email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address ({exc})") from None
    return result.normalized.lower()


Email = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=3, max_length=254),
    AfterValidator(_email),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=512)]
PersonName = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(_no_control),
]
TeamName = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_no_control),
]
