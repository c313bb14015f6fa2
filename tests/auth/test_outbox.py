"""With no SMTP server configured, mail is written whole to `<data_dir>/outbox/` as `.eml`."""

from __future__ import annotations

import email
import email.policy
import stat
from email.message import EmailMessage

from fastapi import FastAPI

from instapods.config import Settings
from tests.auth.support import ORIGIN, link_in, platform_of, register
from tests.fixtures.http import Client


async def test_registration_writes_the_verification_mail_to_the_outbox(
    client: Client, app: FastAPI, settings: Settings
) -> None:
    token = (await register(client, "ann@example.com")).json()["token"]
    await platform_of(app).postman.drain()

    outbox = settings.data_dir / "outbox"
    [path] = list(outbox.iterdir())  # nothing else: no temporary file left behind
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Verify your email address"
    link, secret = link_in(message)
    assert link.startswith(f"{ORIGIN}/verify-email?token=")
    assert link.encode() in raw  # as written, so `cat` shows a link one can copy

    verified = await client.post("/api/auth/verify-email", json={"token": secret})
    assert verified.status_code == 200
    me = await client.as_user(token).get("/api/auth/user")
    assert me.json()["email_verified"] is True
