"""Accounts: registration, sign-in, sessions, email verification and password reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from instapods.auth import mails, repository
from instapods.errors import BadRequest, Conflict, Unauthorized
from instapods.kit import crypto
from instapods.kit.clock import utcnow
from instapods.kit.ids import new_id
from instapods.models import ApiToken, EmailToken, User
from instapods.platform import Platform, mail_after_commit
from instapods.teams import service as teams

VERIFY = "verify_email"
RESET = "reset_password"
INVALID_LOGIN = "Invalid email or password"


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Session:
    """An authenticated caller: the user and the token row they presented."""

    user: User
    token: ApiToken


async def issue_token(
    session: AsyncSession, platform: Platform, user: User, client: ClientInfo
) -> str:
    secret = crypto.new_token()
    now = utcnow()
    session.add(
        ApiToken(
            id=new_id("tok"),
            user_id=user.id,
            token_hash=crypto.hash_token(secret),
            created_at=now,
            expires_at=now + timedelta(days=platform.settings.token_ttl_days),
            created_ip=client.ip,
            user_agent=(client.user_agent or "")[:256] or None,
        )
    )
    return secret


async def _mail_token(session: AsyncSession, user: User, purpose: str, lifetime: timedelta) -> str:
    now = utcnow()
    await repository.spend_email_tokens(session, user.id, purpose, now)
    secret = crypto.new_token("")
    session.add(
        EmailToken(
            id=new_id("etk"),
            user_id=user.id,
            purpose=purpose,
            token_hash=crypto.hash_token(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return secret


async def _send_verification(session: AsyncSession, platform: Platform, user: User) -> None:
    hours = platform.settings.verification_ttl_hours
    secret = await _mail_token(session, user, VERIFY, timedelta(hours=hours))
    mail_after_commit(
        session, platform, mails.verification(user.email, platform.public_url, secret, hours)
    )


async def register(
    session: AsyncSession,
    platform: Platform,
    email: str,
    password: str,
    name: str | None,
    client: ClientInfo,
) -> tuple[User, str]:
    if await repository.user_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists")
    user = User(
        id=new_id("usr"), email=email, name=name, password_hash=crypto.hash_password(password)
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("An account with this email already exists") from None
    await teams.create_personal_team(session, user)
    await _send_verification(session, platform, user)
    return user, await issue_token(session, platform, user, client)


async def login(
    session: AsyncSession, platform: Platform, email: str, password: str, client: ClientInfo
) -> tuple[User, str]:
    user = await repository.user_by_email(session, email)
    if not crypto.verify_password(user.password_hash if user else None, password) or not user:
        raise Unauthorized(INVALID_LOGIN)
    if crypto.needs_rehash(user.password_hash):
        user.password_hash = crypto.hash_password(password)
    return user, await issue_token(session, platform, user, client)


async def authenticate(session: AsyncSession, secret: str) -> Session:
    """The session a bearer token or cookie stands for; 401 if unknown, revoked or expired."""
    found = await repository.token_with_user(session, crypto.hash_token(secret))
    now = utcnow()
    if found is None or found[0].revoked_at is not None or found[0].expires_at <= now:
        raise Unauthorized("Invalid or expired token")
    token, user = found
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now
    return Session(user, token)


async def logout(session: AsyncSession, current: Session) -> None:
    current.token.revoked_at = utcnow()


async def forgot_password(session: AsyncSession, platform: Platform, email: str) -> None:
    user = await repository.user_by_email(session, email)
    if user is None:
        return
    minutes = platform.settings.reset_ttl_minutes
    secret = await _mail_token(session, user, RESET, timedelta(minutes=minutes))
    mail_after_commit(
        session, platform, mails.password_reset(user.email, platform.public_url, secret, minutes)
    )


async def _spend(session: AsyncSession, secret: str, purpose: str, what: str) -> User:
    token = await repository.email_token(session, crypto.hash_token(secret), purpose)
    now = utcnow()
    if token is None or token.used_at is not None or token.expires_at <= now:
        raise BadRequest(f"This {what} link is invalid, used or expired")
    if not await repository.use_email_token(session, token.id, now):
        raise BadRequest(f"This {what} link is invalid, used or expired")
    user = await repository.user_by_id(session, token.user_id)
    if user is None:
        raise BadRequest(f"This {what} link is invalid, used or expired")
    return user


async def reset_password(session: AsyncSession, secret: str, password: str) -> None:
    user = await _spend(session, secret, RESET, "password reset")
    now = utcnow()
    user.password_hash = crypto.hash_password(password)
    user.email_verified_at = user.email_verified_at or now  # the mail reached its owner
    await repository.spend_email_tokens(session, user.id, RESET, now)
    await repository.revoke_user_tokens(session, user.id, now)


async def verify_email(session: AsyncSession, secret: str) -> None:
    user = await _spend(session, secret, VERIFY, "verification")
    user.email_verified_at = user.email_verified_at or utcnow()


async def resend_verification(session: AsyncSession, platform: Platform, user: User) -> None:
    if user.email_verified_at is not None:
        raise BadRequest("This email address is already verified")
    await _send_verification(session, platform, user)
