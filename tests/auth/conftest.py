"""Fixtures of the authentication tests: a real SMTP server (aiosmtpd) that keeps its mail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.auth.support import Inbox, free_port


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1 and a free port; `inbox.port` tells which."""
    inbox = Inbox()
    for attempt in range(5):  # another worker may take the port between probe and bind
        inbox.port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            if attempt == 4:
                raise
    try:
        yield inbox
    finally:
        controller.stop()
