"""The texts of the account mails. Each carries a link with its single-use token."""

from __future__ import annotations

from urllib.parse import quote

from instapods.kit.mail import Mail


def link(base_url: str, page: str, token: str) -> str:
    return f"{base_url}/{page}?token={quote(token)}"


def verification(to: str, base_url: str, token: str, hours: int) -> Mail:
    return Mail(
        to=to,
        subject="Verify your email address",
        text=(
            "Welcome to instapods.\n\n"
            "Confirm your email address by opening this link:\n\n"
            f"{link(base_url, 'verify-email', token)}\n\n"
            f"The link works once and for {hours} hours. "
            f'With the API: POST /api/auth/verify-email {{"token": "{token}"}}\n'
        ),
    )


def password_reset(to: str, base_url: str, token: str, minutes: int) -> Mail:
    return Mail(
        to=to,
        subject="Reset your password",
        text=(
            "Someone asked to reset the password of your instapods account.\n\n"
            f"Choose a new password here:\n\n{link(base_url, 'reset-password', token)}\n\n"
            f"The link works once and for {minutes} minutes; a reset signs out every session.\n"
            "If you did not ask for this, ignore this mail: your password stays as it is.\n"
        ),
    )
