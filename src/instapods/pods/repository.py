"""SQL for pods and their events. Every read of a team's pods goes through `scoped`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.kit.ids import new_id
from instapods.models import Pod, PodEvent
from instapods.teams.scope import TeamAccess, scoped


async def live_pod(session: AsyncSession, access: TeamAccess, name: str) -> Pod | None:
    statement = select(Pod).where(Pod.name == name, Pod.deleted_at.is_(None))
    pod: Pod | None = await session.scalar(scoped(statement, Pod.team_id, access))
    return pod


async def team_pods(
    session: AsyncSession, access: TeamAccess, limit: int, offset: int
) -> tuple[list[Pod], int]:
    base = scoped(select(Pod).where(Pod.deleted_at.is_(None)), Pod.team_id, access)
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(Pod.created_at, Pod.name).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def team_pod_count(session: AsyncSession, team_id: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Pod)
        .where(Pod.team_id == team_id, Pod.deleted_at.is_(None))
    )
    return int(count or 0)


async def by_name(session: AsyncSession, name: str) -> Pod | None:
    """Any pod with this name, of any team, deleted or not (for name reservation)."""
    return await session.scalar(select(Pod).where(Pod.name == name))


async def purge(session: AsyncSession, pod: Pod) -> None:
    """Forget a deleted pod whose reserved name is being reused (its events go with it)."""
    await session.execute(delete(Pod).where(Pod.id == pod.id))


async def orphan_deleted(session: AsyncSession, team_id: str) -> None:
    """Detach a team's deleted pods before the team goes: their names stay reserved."""
    deleted = update(Pod).where(Pod.team_id == team_id, Pod.deleted_at.is_not(None))
    await session.execute(deleted.values(team_id=None))


async def used_slots(session: AsyncSession) -> set[int]:
    return set(await session.scalars(select(Pod.slot).where(Pod.slot.is_not(None))))


async def capacity_use(session: AsyncSession, server_id: str) -> tuple[int, int]:
    """(pods, memory MB) that live pods take on a server."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Pod.memory_mb), 0)).where(
                Pod.server_id == server_id, Pod.deleted_at.is_(None)
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def pods_on_server(session: AsyncSession, server_id: str) -> list[Pod]:
    rows = await session.scalars(
        select(Pod).where(Pod.server_id == server_id, Pod.deleted_at.is_(None))
    )
    return list(rows)


async def add_event(session: AsyncSession, pod: Pod, type_: str, message: str, actor: str) -> None:
    """Record an event, stamped to the microsecond: the feed is newest first, and events of one
    second (created, then started by the worker) must keep their order."""
    session.add(PodEvent(id=new_id("evt"), pod_id=pod.id, team_id=pod.team_id, type=type_,
                         message=message[:1000], actor=actor[:254],
                         created_at=datetime.now(UTC)))  # fmt: skip


async def events(
    session: AsyncSession, pod: Pod, types: Sequence[str], limit: int, offset: int
) -> tuple[list[PodEvent], int]:
    base = select(PodEvent).where(PodEvent.pod_id == pod.id)
    if types:
        base = base.where(PodEvent.type.in_(types))
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    rows = await session.scalars(
        base.order_by(PodEvent.created_at.desc(), PodEvent.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total or 0)


async def status_counts(session: AsyncSession, access: TeamAccess) -> dict[str, int]:
    statement = scoped(
        select(Pod.status, func.count()).where(Pod.deleted_at.is_(None)).group_by(Pod.status),
        Pod.team_id,
        access,
    )
    return {status: int(count) for status, count in (await session.execute(statement)).all()}
