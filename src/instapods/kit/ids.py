"""Prefixed random identifiers (`usr_…`, `team_…`): unguessable, sortable by nothing."""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 20) -> str:
    """A new id such as `usr_k3v9…`: about 103 bits of randomness for the default length."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
