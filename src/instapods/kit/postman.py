"""Sends mail in the background so no response waits on (or reveals) an SMTP round trip."""

from __future__ import annotations

import asyncio
import logging

from instapods.kit.mail import Mail, Mailer

log = logging.getLogger("instapods.mail")


class Postman:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self._pending: set[asyncio.Task[None]] = set()

    def post(self, mail: Mail) -> None:
        task = asyncio.create_task(self._deliver(mail))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, mail: Mail) -> None:
        try:
            await self.mailer.send(mail)
        except Exception:  # logged with the recipient; the user can ask for it again
            log.exception("could not send mail to %s: %s", mail.to, mail.subject)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for mail in flight (at shutdown, and in tests)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
