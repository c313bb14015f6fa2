"""Shared pieces of the teams tests: the outbox, a direct look at the rows, error shapes.

Everything here goes through real parts: users and memberships are made by the services (as
`tests.fixtures.factories` does), mail is read from the outbox folder the platform writes to
when no SMTP server is configured, and rows are read with the platform's own session factory.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from sqlalchemy import Select, select

from instapods.models import Invitation, Membership, Role, Team, User
from instapods.platform import Platform
from instapods.teams import service as teams
from tests.fixtures.factories import UserHandle

T = TypeVar("T")

ACCEPT_LINK = re.compile(r"(\S+)/invitations/accept\?token=(\S+)")


def platform_of(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


@dataclass
class Db:
    """Reads and writes rows directly, each call in a transaction of its own."""

    app: FastAPI

    async def all(self, statement: Select[T]) -> list[T]:
        async with platform_of(self.app).sessions() as session:
            return list(await session.scalars(statement))

    async def one(self, statement: Select[T]) -> T:
        rows = await self.all(statement)
        assert len(rows) == 1, f"expected one row, got {len(rows)}"
        return rows[0]

    async def user(self, user_id: str) -> User:
        return await self.one(select(User).where(User.id == user_id))

    async def team(self, team_id: str) -> Team | None:
        rows = await self.all(select(Team).where(Team.id == team_id))
        return rows[0] if rows else None

    async def memberships(self, team_id: str) -> dict[str, str]:
        """user id -> role for every member of the team."""
        rows = await self.all(select(Membership).where(Membership.team_id == team_id))
        return {m.user_id: m.role for m in rows}

    async def invitations(self, team_id: str) -> list[Invitation]:
        return await self.all(
            select(Invitation).where(Invitation.team_id == team_id).order_by(Invitation.created_at)
        )

    async def invitation(self, invitation_id: str) -> Invitation:
        return await self.one(select(Invitation).where(Invitation.id == invitation_id))

    async def state(self, team_id: str, user_id: str) -> tuple[object, ...]:
        """Everything a failed request on a team must leave as it was: the team, its members,
        its invitations, and the caller's current team and email verification."""
        async with platform_of(self.app).sessions() as session:
            team = await session.get(Team, team_id)
            members = await session.scalars(select(Membership).where(Membership.team_id == team_id))
            invitations = await session.scalars(
                select(Invitation).where(Invitation.team_id == team_id)
            )
            user = await session.get(User, user_id)
            assert user is not None
            return (
                team and (team.name, team.updated_at),
                sorted((m.user_id, m.role, m.joined_at) for m in members),
                sorted((i.id, i.role, i.revoked_at, i.accepted_at) for i in invitations),
                (user.current_team_id, user.email_verified_at),
            )

    async def update(self, model: type[Any], row_id: Any, **values: object) -> None:
        async with platform_of(self.app).sessions() as session, session.begin():
            row = await session.get(model, row_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)

    async def add_member(self, team_id: str, by: UserHandle, who: UserHandle, role: Role) -> None:
        """Add through the teams service, acting as `by` (who must be allowed to)."""
        async with platform_of(self.app).sessions() as session, session.begin():
            actor = await session.get(User, by.id)
            assert actor is not None
            await teams.add_member(session, actor, team_id, who.email, role)

    async def invite(self, team_id: str, by: UserHandle, to: str, role: Role) -> str:
        """Create an invitation through the teams service (no mail: nothing runs after
        commit outside a request) and return its id."""
        async with platform_of(self.app).sessions() as session, session.begin():
            actor = await session.get(User, by.id)
            assert actor is not None
            invitation = await teams.invite(
                session, platform_of(self.app), actor, team_id, to, role
            )
            return invitation.id


@pytest.fixture
def db(app: FastAPI) -> Db:
    return Db(app)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


@dataclass
class Outbox:
    """The `.eml` files of `<data_dir>/outbox`, read once the postman has delivered."""

    app: FastAPI
    seen: set[str] = field(default_factory=set)

    @property
    def directory(self) -> Path:
        return platform_of(self.app).settings.outbox_dir

    async def _unseen(self) -> list[tuple[str, Mail]]:
        await platform_of(self.app).postman.drain()
        if not self.directory.exists():
            return []
        files = sorted(p for p in self.directory.glob("*.eml") if p.name not in self.seen)
        return [(p.name, _parse(p.read_bytes())) for p in files]

    async def new(self) -> list[Mail]:
        """Every mail written since it was last read."""
        unseen = await self._unseen()
        self.seen.update(name for name, _ in unseen)
        return [mail for _, mail in unseen]

    async def one_to(self, address: str) -> Mail:
        """The single unread mail to `address` (mails to others stay unread)."""
        unseen = [(name, mail) for name, mail in await self._unseen() if mail.to == address]
        assert len(unseen) == 1, f"expected one new mail to {address}: {unseen}"
        self.seen.add(unseen[0][0])
        return unseen[0][1]

    def token(self, mail: Mail) -> str:
        """The token of the one accept link in `mail`, which points at this server."""
        return accept_token(mail, platform_of(self.app).public_url)

    async def invitation_token(self, address: str) -> str:
        """The token carried by the link in the single new mail to `address`."""
        return self.token(await self.one_to(address))


def _parse(data: bytes) -> Mail:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert isinstance(body, EmailMessage)
    return Mail(to=str(message["To"]), subject=str(message["Subject"]), text=body.get_content())


def accept_token(mail: Mail, public_url: str) -> str:
    links = ACCEPT_LINK.findall(mail.text)
    assert len(links) == 1, f"expected one accept link in {mail.text!r}"
    base, token = links[0]
    assert base == public_url
    return unquote(token)


@pytest.fixture
def outbox(app: FastAPI) -> Outbox:
    return Outbox(app)
