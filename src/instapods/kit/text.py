"""Validated string types for request schemas: bounded, trimmed, no control characters."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, StringConstraints


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _normalise(value: object) -> object:
    """Trim and NFC-normalise before the length check: NFC can make a string longer."""
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


# Format characters that scripts and emoji need (ZWNJ for Persian, ZWJ for emoji sequences);
# every other one (bidi overrides, invisible separators) can disguise a name.
_JOINERS = frozenset("\u200c\u200d")


def _no_control(value: str) -> str:
    for ch in value:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co") or (category == "Cf" and ch not in _JOINERS):
            raise ValueError("must not contain control characters")
    return value


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
    BeforeValidator(_normalise),
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(_no_control),
]
TeamName = Annotated[
    str,
    BeforeValidator(_normalise),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_no_control),
]
