"""Pod names: what the API accepts, and names kept for the platform itself."""

from __future__ import annotations

import re

PATTERN = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED = frozenset({
    "api", "app", "admin", "dashboard", "www", "mail", "smtp", "ssh", "ns1", "ns2",
    "localhost", "instapods", "status", "docs", "static", "assets",
})  # fmt: skip


def check(name: str) -> str | None:
    """Why `name` is not a valid pod name, or None when it is."""
    if not 1 <= len(name) <= 63:
        return "must be 1 to 63 characters long"
    if not PATTERN.match(name):
        return (
            "must use lowercase letters, digits and hyphens, start with a letter "
            "and not end with a hyphen"
        )
    if "--" in name:
        return "must not contain two hyphens in a row"
    if name in RESERVED:
        return "is reserved for the platform"
    return None
