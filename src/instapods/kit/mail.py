"""Outgoing mail: SMTP through aiosmtplib, or `.eml` files in an outbox folder.

The outbox is what a local installation uses with no SMTP server: every message is written
whole (temporary file, then rename) and logged, so a user can still verify and reset.
"""

from __future__ import annotations

import contextlib
import email.policy
import logging
import os
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib

from instapods.kit.clock import utcnow
from instapods.kit.ids import new_id

log = logging.getLogger("instapods.mail")

# Body lines up to RFC 5322's 998 stay as written (7bit, not quoted-printable), so the link
# in a mail, or in an outbox file read with `cat`, can be copied as it is.
_POLICY = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


def build_message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="instapods")
    message.set_content(mail.text)
    return message


@dataclass
class SmtpMailer:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 15.0

    async def send(self, mail: Mail) -> None:
        await aiosmtplib.send(
            build_message(mail, self.sender),
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            use_tls=self.use_tls,
            timeout=self.timeout,
        )
        log.info("mail sent to %s: %s", mail.to, mail.subject)


@dataclass
class OutboxMailer:
    directory: Path
    sender: str

    async def send(self, mail: Mail) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%SZ}-{new_id('mail', 8)}.eml"
        data = bytes(build_message(mail, self.sender))
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        log.info(
            "mail to %s written to %s: %s\n%s",
            mail.to,
            self.directory / name,
            mail.subject,
            mail.text,
        )
