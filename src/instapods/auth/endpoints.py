from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from instapods.auth import service
from instapods.auth.dependencies import (
    ClientDep,
    CurrentSession,
    CurrentUser,
    clear_session_cookie,
    set_session_cookie,
)
from instapods.auth.schemas import (
    AuthOut,
    ForgotPasswordIn,
    LoginIn,
    RegisterIn,
    ResetPasswordIn,
    TokenIn,
    UserOut,
)
from instapods.db import SessionDep
from instapods.kit.schema import Status
from instapods.models import User
from instapods.platform import Platform, PlatformDep
from instapods.ratelimits import rate_limited

router = APIRouter(prefix="/api/auth", tags=["auth"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified_at is not None,
        current_team_id=user.current_team_id,
        created_at=user.created_at,
    )


def _signed_in(
    request: Request, response: Response, platform: Platform, user: User, token: str
) -> AuthOut:
    set_session_cookie(
        response, request, token, platform.public_url, platform.settings.token_ttl_days
    )
    return AuthOut(user=user_out(user), token=token)


@router.post("/register", status_code=201, dependencies=[Depends(rate_limited("register"))])
async def register(
    body: RegisterIn,
    request: Request,
    response: Response,
    session: SessionDep,
    platform: PlatformDep,
    client: ClientDep,
) -> AuthOut:
    """Create an account and its personal team; mails a verification link."""
    user, token = await service.register(
        session, platform, body.email, body.password, body.name, client
    )
    return _signed_in(request, response, platform, user, token)


@router.post("/login", dependencies=[Depends(rate_limited("login"))])
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    platform: PlatformDep,
    client: ClientDep,
) -> AuthOut:
    """Sign in with email and password; returns a token and sets the session cookie."""
    user, token = await service.login(session, platform, body.email, body.password, client)
    return _signed_in(request, response, platform, user, token)


@router.post("/logout")
async def logout(response: Response, session: SessionDep, current: CurrentSession) -> Status:
    """Revoke the token (or cookie session) used for this request."""
    await service.logout(session, current)
    clear_session_cookie(response)
    return Status(status="logged_out")


@router.get("/user")
async def get_user(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/forgot-password", dependencies=[Depends(rate_limited("forgot_password"))])
async def forgot_password(
    body: ForgotPasswordIn, session: SessionDep, platform: PlatformDep
) -> Status:
    """Mail a reset link if the account exists; the answer is the same either way."""
    await service.forgot_password(session, platform, body.email)
    return Status(status="sent")


@router.post("/reset-password")
async def reset_password(body: ResetPasswordIn, response: Response, session: SessionDep) -> Status:
    """Set a new password with a mailed token; signs out every session of the account."""
    await service.reset_password(session, body.token, body.password)
    clear_session_cookie(response)
    return Status(status="password_reset")


@router.post("/verify-email")
async def verify_email(body: TokenIn, session: SessionDep) -> Status:
    await service.verify_email(session, body.token)
    return Status(status="verified")


@router.post("/resend-verification")
async def resend_verification(
    session: SessionDep, platform: PlatformDep, user: CurrentUser
) -> Status:
    await service.resend_verification(session, platform, user)
    return Status(status="sent")
