"""SQL for users, their tokens and their single-use email tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.models import ApiToken, EmailToken, User


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def token_with_user(session: AsyncSession, token_hash: str) -> tuple[ApiToken, User] | None:
    """The token with this hash and its user, in one query (it runs on every request)."""
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def revoke_user_tokens(session: AsyncSession, user_id: str, now: datetime) -> None:
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def email_token(session: AsyncSession, token_hash: str, purpose: str) -> EmailToken | None:
    return await session.scalar(
        select(EmailToken)
        .where(EmailToken.token_hash == token_hash, EmailToken.purpose == purpose)
        .with_for_update()
    )


async def use_email_token(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """Mark one token used unless a concurrent request did first (SQLite has no FOR UPDATE)."""
    used = await session.scalar(
        update(EmailToken)
        .where(EmailToken.id == token_id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .returning(EmailToken.id)
    )
    return used is not None


async def spend_email_tokens(
    session: AsyncSession, user_id: str, purpose: str, now: datetime
) -> None:
    """Mark every open token of this purpose used: only the newest mail may count."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
