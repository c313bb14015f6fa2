"""The validated string types: emails normalised, names trimmed, bounded and printable."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from instapods.kit.text import Email, Password, PersonName, Secret, TeamName

EMAIL: TypeAdapter[str] = TypeAdapter(Email)
PERSON: TypeAdapter[str] = TypeAdapter(PersonName)
TEAM: TypeAdapter[str] = TypeAdapter(TeamName)
PASSWORD: TypeAdapter[str] = TypeAdapter(Password)
SECRET: TypeAdapter[str] = TypeAdapter(Secret)
NAMES = [(PERSON, 100), (TEAM, 64)]
CONTROL_CATEGORIES = ("Cc", "Cf", "Cs", "Co")

JOINERS = "\u200c\u200d"  # ZWNJ and ZWJ: format characters that scripts and emoji need
controls = st.characters(categories=["Cc", "Cf", "Co"], exclude_characters=JOINERS)


def forbidden(ch: str) -> bool:
    return unicodedata.category(ch) in CONTROL_CATEGORIES and ch not in JOINERS


printable = st.characters(categories=["L", "M", "N", "P", "S"])


def rejected(adapter: TypeAdapter[str], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return True
    return False


# -- emails --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM \n", "alice@example.com"),
        ("BOB.SMITH+tag@Sub.Example.org", "bob.smith+tag@sub.example.org"),
        ("user@BÜCHER.example", "user@bücher.example"),
    ],
)
def test_emails_are_trimmed_and_lowercased(raw: str, normalised: str) -> None:
    assert EMAIL.validate_python(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.com",
        "alice@",
        "alice@@example.com",
        "alice@example",
        "alice example@example.com",
        "alice@exa mple.com",
        "alice@example..com",
        "alice\n@example.com",
        "a" * 250 + "@example.com",
        "a@" + "b" * 250 + ".com",
        None,
        42,
    ],
)
def test_invalid_emails_are_rejected(raw: object) -> None:
    assert rejected(EMAIL, raw)


def test_an_invalid_email_says_why() -> None:
    with pytest.raises(ValidationError, match="not a valid email address"):
        EMAIL.validate_python("nobody-at-example.com")


@given(st.emails())
def test_any_valid_email_normalises_to_a_fixed_point(raw: str) -> None:
    normalised = EMAIL.validate_python(raw)
    assert normalised == normalised.lower()
    assert EMAIL.validate_python(normalised) == normalised
    assert EMAIL.validate_python(f"  {raw.upper()}  ") == normalised


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("adapter", "limit"), NAMES)
def test_names_are_trimmed(adapter: TypeAdapter[str], limit: int) -> None:
    assert adapter.validate_python("  Ada Lovelace\t") == "Ada Lovelace"
    assert adapter.validate_python("Zoë Ünal 李雷") == "Zoë Ünal 李雷"


@pytest.mark.parametrize(("adapter", "limit"), NAMES)
def test_names_are_bounded(adapter: TypeAdapter[str], limit: int) -> None:
    assert adapter.validate_python("x" * limit) == "x" * limit
    assert adapter.validate_python(" " + "x" * limit + " ") == "x" * limit
    assert rejected(adapter, "x" * (limit + 1))
    assert rejected(adapter, "")
    assert rejected(adapter, "   ")


@pytest.mark.parametrize(("adapter", "limit"), NAMES)
@pytest.mark.parametrize(
    "value",
    [
        "a\x00b",
        "a\x07b",
        "a\x1bb",
        "line\nbreak",
        "tab\tin",
        "zero\u200bwidth",
        "rtl\u202eoverride",
    ],
)
def test_names_with_control_characters_are_rejected(
    adapter: TypeAdapter[str], limit: int, value: str
) -> None:
    assert rejected(adapter, value)


@pytest.mark.parametrize(("adapter", "limit"), NAMES)
def test_names_are_nfc_normalised(adapter: TypeAdapter[str], limit: int) -> None:
    decomposed = "Zoe\u0308"
    assert adapter.validate_python(decomposed) == "Zo\u00eb"


@given(
    before=st.text(printable, min_size=1, max_size=30),
    control=controls,
    after=st.text(printable, min_size=1, max_size=30),
)
def test_any_name_with_an_inner_control_character_is_rejected(
    before: str, control: str, after: str
) -> None:
    for adapter, _ in NAMES:
        assert rejected(adapter, before + control + after)


@given(st.text(max_size=120))
def test_any_name_containing_a_control_character_after_trimming_is_rejected(raw: str) -> None:
    assume(any(forbidden(c) for c in raw.strip()))
    for adapter, _ in NAMES:
        assert rejected(adapter, raw)


@given(st.text(max_size=130))
def test_any_accepted_name_is_its_trimmed_nfc_form(raw: str) -> None:
    expected = unicodedata.normalize("NFC", raw.strip())
    assume(len(expected) <= len(raw.strip()))  # see the NFC-expansion test below
    for adapter, limit in NAMES:
        try:
            name = adapter.validate_python(raw)
        except ValidationError:
            continue
        assert name == expected
        assert 1 <= len(name) <= limit
        assert name == name.strip()
        assert not any(forbidden(c) for c in name)
        assert adapter.validate_python(name) == name


@given(st.text(st.sampled_from("\u0958\u0959\u095a\ufb1d\u2adc"), min_size=1, max_size=100))
@example("\u0958" * 100)
def test_any_accepted_name_fits_its_limit_even_when_nfc_lengthens_it(raw: str) -> None:
    for adapter, limit in NAMES:
        try:
            name = adapter.validate_python(raw)
        except ValidationError:
            continue
        assert len(name) <= limit


# -- passwords and secrets -----------------------------------------------------------------------


def test_password_limits() -> None:
    assert PASSWORD.validate_python("8 chars!") == "8 chars!"
    assert PASSWORD.validate_python("p" * 256) == "p" * 256
    assert rejected(PASSWORD, "7 chars")
    assert rejected(PASSWORD, "p" * 257)


def test_passwords_are_not_trimmed() -> None:
    assert PASSWORD.validate_python("  spaced password  ") == "  spaced password  "


def test_secret_limits() -> None:
    assert SECRET.validate_python("t") == "t"
    assert rejected(SECRET, "")
    assert rejected(SECRET, "t" * 513)
