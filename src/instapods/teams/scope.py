"""The one scoping helper for team-owned data.

Every read of a team-owned row goes through `team_access` (or `current_team`) and `scoped`:
a team the caller does not belong to, and any row of it, is `NotFound`, never `Forbidden`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, Update, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from instapods.errors import Forbidden, NotFound
from instapods.models import Membership, Role, Team, User
from instapods.teams.permissions import Permission, allows

TEAM_NOT_FOUND = "Team not found"


@dataclass(frozen=True)
class TeamAccess:
    """A user acting in a team with a role."""

    user: User
    team: Team
    role: Role

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(
                f"Your role ({self.role}) does not allow this in team {self.team.name!r}"
            )


Row = TypeVar("Row", bound=Any)


async def team_access(session: AsyncSession, user: User, team_id: str) -> TeamAccess:
    row = (
        await session.execute(
            select(Team, Membership.role)
            .join(Membership, Membership.team_id == Team.id)
            .where(Team.id == team_id, Membership.user_id == user.id)
        )
    ).first()
    if row is None:
        raise NotFound(TEAM_NOT_FOUND)
    return TeamAccess(user=user, team=row[0], role=Role(row[1]))


async def current_team(session: AsyncSession, user: User) -> TeamAccess:
    """The team the user acts in; falls back to the personal team if the current one is gone."""
    for team_id in (user.current_team_id, user.personal_team_id):
        if team_id is None:
            continue
        try:
            access = await team_access(session, user, team_id)
        except NotFound:
            continue
        user.current_team_id = access.team.id
        return access
    raise NotFound("You are not a member of any team")


Statement = TypeVar("Statement", Select[*tuple[Any, ...]], Update)


def scoped(
    statement: Statement,
    team_id: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
    access: TeamAccess,
) -> Statement:
    """Restrict a query or an update on a team-owned table (by its `team_id` column)."""
    return statement.where(team_id == access.team.id)


async def scoped_get(
    session: AsyncSession, model: type[Row], access: TeamAccess, message: str, **filters: object
) -> Row:
    """Fetch one team-owned row by column values, or raise NotFound with `message`."""
    statement = scoped(select(model).filter_by(**filters), model.team_id, access)
    row: Row | None = await session.scalar(statement)
    if row is None:
        raise NotFound(message)
    return row
