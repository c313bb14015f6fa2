"""SQL for teams, memberships and invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.kit.clock import utcnow
from instapods.models import Invitation, Membership, Role, Team, User
from instapods.teams.scope import TeamAccess, scoped


async def teams_of(session: AsyncSession, user_id: str) -> list[tuple[Team, str, int]]:
    counts = (
        select(Membership.team_id, func.count().label("members"))
        .group_by(Membership.team_id)
        .subquery()
    )
    rows = await session.execute(
        select(Team, Membership.role, counts.c.members)
        .join(Membership, Membership.team_id == Team.id)
        .join(counts, counts.c.team_id == Team.id)
        .where(Membership.user_id == user_id)
        .order_by(Team.personal.desc(), Team.created_at, Team.id)
    )
    return [(team, role, members) for team, role, members in rows.all()]


async def member_count(session: AsyncSession, team_id: str) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.team_id == team_id)
    )
    return int(count or 0)


async def members(session: AsyncSession, team_id: str) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.team_id == team_id)
        .order_by(Membership.joined_at, User.email)
    )
    return [(membership, user) for membership, user in rows.all()]


async def membership(session: AsyncSession, team_id: str, user_id: str) -> Membership | None:
    return await session.get(Membership, (team_id, user_id), with_for_update=True)


async def lock_team(session: AsyncSession, team_id: str) -> None:
    """Serialise changes to a team's members until the transaction ends.

    A write, not SELECT FOR UPDATE: it locks the team's row on PostgreSQL and takes the
    database's write lock on SQLite, which has no FOR UPDATE. Taken before any membership row
    is read, so two owners leaving at once cannot both see the other one stay, and concurrent
    changes queue instead of deadlocking.
    """
    await session.execute(update(Team).where(Team.id == team_id).values(updated_at=utcnow()))


async def use_invitation(
    session: AsyncSession, invitation_id: str, user_id: str, now: datetime
) -> bool:
    """Mark an invitation accepted unless a concurrent request accepted or revoked it first
    (SQLite ignores the FOR UPDATE of `invitation_by_hash`)."""
    used = await session.scalar(
        update(Invitation)
        .where(
            Invitation.id == invitation_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(accepted_at=now, accepted_by=user_id)
        .returning(Invitation.id)
    )
    return used is not None


async def revoke_invitation(
    session: AsyncSession, access: TeamAccess, invitation_id: str, now: datetime
) -> bool:
    """Revoke a pending invitation of this team, unless it was accepted or revoked meanwhile."""
    statement = update(Invitation).where(
        Invitation.id == invitation_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
    )
    revoked = await session.scalar(
        scoped(statement, Invitation.team_id, access)
        .values(revoked_at=now)
        .returning(Invitation.id)
    )
    return revoked is not None


async def owner_count(session: AsyncSession, team_id: str) -> int:
    owners = await session.scalars(
        select(Membership.user_id)
        .where(Membership.team_id == team_id, Membership.role == Role.OWNER)
        .with_for_update()
    )
    return len(owners.all())


async def pending_invitations(
    session: AsyncSession, team_id: str, now: datetime, email: str | None = None
) -> list[Invitation]:
    statement: Any = select(Invitation).where(
        Invitation.team_id == team_id,
        Invitation.accepted_at.is_(None),
        Invitation.revoked_at.is_(None),
        Invitation.expires_at > now,
    )
    if email is not None:
        statement = statement.where(Invitation.email == email)
    return list(await session.scalars(statement.order_by(Invitation.created_at)))


async def invitation_by_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    return await session.scalar(
        select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
    )


async def reset_current_team(session: AsyncSession, team_id: str, user_id: str | None) -> None:
    """Send users whose current team is `team_id` back to their personal team."""
    statement = update(User).where(User.current_team_id == team_id)
    if user_id is not None:
        statement = statement.where(User.id == user_id)
    await session.execute(statement.values(current_team_id=User.personal_team_id))
