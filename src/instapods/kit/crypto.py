"""Secrets that we hand out and keep only as hashes, and password hashing (Argon2id)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "ipt_"  # noqa: S105 (a prefix, not a secret)

_hasher = PasswordHasher()  # Argon2id with the library's RFC 9106 "low memory" profile
_DUMMY_HASH = _hasher.hash("instapods-timing-equaliser")


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    """An opaque bearer secret: 32 random bytes, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens carry 256 bits of entropy, so one fast hash is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, spend the same time so timing reveals no account."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
