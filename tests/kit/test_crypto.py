"""Tokens kept as hashes and Argon2id passwords."""

from __future__ import annotations

import base64

from instapods.kit.crypto import (
    TOKEN_PREFIX,
    hash_password,
    hash_token,
    needs_rehash,
    new_token,
    same_secret,
    verify_password,
)


def test_password_hash_is_argon2id() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert not needs_rehash(hashed)


def test_password_hashes_are_salted() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_verify_password() -> None:
    hashed = hash_password("correct horse battery staple")
    assert verify_password(hashed, "correct horse battery staple") is True
    assert verify_password(hashed, "correct horse battery stapl") is False
    assert verify_password(hashed, "") is False


def test_verifying_against_no_hash_is_false() -> None:
    """A missing account still spends the time of a real check, and never succeeds."""
    assert verify_password(None, "anything") is False
    assert verify_password(None, "instapods-timing-equaliser") is False


def test_a_corrupt_hash_is_false_not_an_error() -> None:
    assert verify_password("not a hash", "password") is False
    assert verify_password("$argon2id$v=19$garbage", "password") is False


def test_tokens_are_prefixed_and_carry_32_random_bytes() -> None:
    token = new_token()
    assert token.startswith(TOKEN_PREFIX)
    assert TOKEN_PREFIX == "ipt_"
    raw = token.removeprefix(TOKEN_PREFIX)
    assert len(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))) == 32
    assert len({new_token() for _ in range(1000)}) == 1000


def test_token_hashes_are_stable_and_hide_the_token() -> None:
    token = new_token()
    assert hash_token(token) == hash_token(token)
    assert len(hash_token(token)) == 64
    assert token not in hash_token(token)
    assert hash_token(token) != hash_token(new_token())


def test_same_secret() -> None:
    assert same_secret("abc", "abc") is True
    assert same_secret("abc", "abd") is False
    assert same_secret("abc", "abcd") is False
