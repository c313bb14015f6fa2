"""Encryption at rest for secrets kept in the database (env vars, service passwords).

AES-256-GCM with a key that lives outside the database: `INSTAPODS_SECRET_KEY` (base64) or a
file in the data directory created on first start with mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_key(cls, key: str) -> SecretBox:
        return cls(base64.b64decode(key))

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Load the key, creating it (0600, written whole) if it does not exist yet."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(os.urandom(32)))
            with contextlib.suppress(FileExistsError):  # never replace a key another process made
                os.link(tmp, path)
            tmp.unlink(missing_ok=True)
        return cls(base64.b64decode(path.read_bytes().strip()))

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt; `context` (e.g. the row id) is bound in, so a sealed value can't be moved."""
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{base64.b64encode(nonce + data).decode()}"

    def open(self, sealed: str, context: str) -> str:
        version, _, payload = sealed.partition(":")
        if version != VERSION:
            raise ValueError(f"unknown sealed format {version!r}")
        raw = base64.b64decode(payload)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
