from __future__ import annotations

from instapods.auth.mails import link
from instapods.kit.mail import Mail


def invitation(
    to: str, base_url: str, token: str, team: str, inviter: str, role: str, days: int
) -> Mail:
    return Mail(
        to=to,
        subject=f"{inviter} invited you to the team {team} on instapods",
        text=(
            f"{inviter} invited you to join the team {team!r} as {role}.\n\n"
            f"Accept the invitation here (sign in or create an account with this address):\n\n"
            f"{link(base_url, 'invitations/accept', token)}\n\n"
            f"The link works once and for {days} days. "
            f'With the API: POST /api/invitations/accept {{"token": "{token}"}}\n'
        ),
    )
