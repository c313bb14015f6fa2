"""Teams: membership, roles, invitations, and the current team of each user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from instapods.auth import repository as users
from instapods.errors import BadRequest, Conflict, Forbidden, NotFound
from instapods.kit import crypto
from instapods.kit.clock import utcnow
from instapods.kit.ids import new_id
from instapods.models import Invitation, Membership, Role, Team, User
from instapods.platform import Platform, mail_after_commit
from instapods.pods import repository as pods_repository
from instapods.teams import mails, repository
from instapods.teams.permissions import Permission, can_assign
from instapods.teams.scope import TeamAccess, team_access

PERSONAL_TEAM_NAME = "Personal"
INVALID_INVITATION = "This invitation is invalid, used, revoked or expired"


@dataclass(frozen=True)
class TeamView:
    team: Team
    role: Role
    member_count: int
    current: bool


async def _new_team(session: AsyncSession, owner: User, name: str, personal: bool) -> Team:
    team = Team(id=new_id("team"), name=name, personal=personal)
    session.add(team)
    await session.flush()
    session.add(Membership(team_id=team.id, user_id=owner.id, role=Role.OWNER))
    return team


async def create_personal_team(session: AsyncSession, user: User) -> Team:
    team = await _new_team(session, user, PERSONAL_TEAM_NAME, personal=True)
    user.personal_team_id = team.id
    user.current_team_id = team.id
    return team


async def list_teams(session: AsyncSession, user: User) -> list[TeamView]:
    rows = await repository.teams_of(session, user.id)
    current = user.current_team_id or user.personal_team_id
    return [TeamView(team, Role(role), count, team.id == current) for team, role, count in rows]


async def view(session: AsyncSession, access: TeamAccess) -> TeamView:
    count = await repository.member_count(session, access.team.id)
    current = access.team.id == (access.user.current_team_id or access.user.personal_team_id)
    return TeamView(access.team, access.role, count, current)


async def create_team(session: AsyncSession, user: User, name: str) -> TeamView:
    team = await _new_team(session, user, name, personal=False)
    return await view(session, TeamAccess(user, team, Role.OWNER))


async def switch(session: AsyncSession, user: User, team_id: str) -> str:
    access = await team_access(session, user, team_id)
    user.current_team_id = access.team.id
    return access.team.id


async def get_team(session: AsyncSession, user: User, team_id: str) -> TeamView:
    return await view(session, await team_access(session, user, team_id))


async def rename(session: AsyncSession, user: User, team_id: str, name: str) -> TeamView:
    access = await team_access(session, user, team_id)
    access.require(Permission.MANAGE_TEAM)
    access.team.name = name
    return await view(session, access)


async def delete_team(session: AsyncSession, user: User, team_id: str) -> None:
    access = await team_access(session, user, team_id)
    access.require(Permission.DELETE_TEAM)
    if access.team.personal:
        raise BadRequest("The personal team cannot be deleted")
    pods = await pods_repository.team_pod_count(session, access.team.id)
    if pods:
        raise Conflict(f"Delete the team's {pods} pod(s) before deleting the team")
    await pods_repository.orphan_deleted(session, access.team.id)
    await repository.reset_current_team(session, access.team.id, None)
    await session.delete(access.team)


async def list_members(
    session: AsyncSession, user: User, team_id: str
) -> list[tuple[Membership, User]]:
    access = await team_access(session, user, team_id)
    return await repository.members(session, access.team.id)


def _require_assign(access: TeamAccess, role: Role) -> None:
    access.require(Permission.MANAGE_MEMBERS)
    if not can_assign(access.role, role):
        raise Forbidden("Only an owner can grant or take away the owner role")


async def add_member(
    session: AsyncSession, user: User, team_id: str, email: str, role: Role
) -> tuple[Membership, User]:
    access = await team_access(session, user, team_id)
    _require_assign(access, role)
    member = await users.user_by_email(session, email)
    if member is None:
        raise NotFound("No user with this email address; invite them instead")
    if await repository.membership(session, access.team.id, member.id) is not None:
        raise Conflict("This user is already a member of the team")
    membership = Membership(team_id=access.team.id, user_id=member.id, role=role)
    session.add(membership)
    await session.flush()
    return membership, member


async def _target(session: AsyncSession, access: TeamAccess, user_id: str) -> Membership:
    membership = await repository.membership(session, access.team.id, user_id)
    if membership is None:
        raise NotFound("Member not found")
    return membership


async def _keep_an_owner(session: AsyncSession, membership: Membership) -> None:
    if (
        membership.role == Role.OWNER
        and await repository.owner_count(session, membership.team_id) <= 1
    ):
        raise Conflict("A team must keep at least one owner")


async def _locked(session: AsyncSession, user: User, team_id: str) -> TeamAccess:
    """Access to a team whose memberships this transaction alone may change from now on.

    Outsiders get their 404 before anything is written; the role is read again once the
    lock is held, so a caller demoted a moment ago acts with their new role.
    """
    access = await team_access(session, user, team_id)
    await repository.lock_team(session, access.team.id)
    return await team_access(session, user, team_id)


async def _refuse_personal_owner(
    session: AsyncSession, team_id: str, user_id: str, message: str
) -> User:
    member = await users.user_by_id(session, user_id)
    assert member is not None  # the membership's foreign key guarantees it
    if member.personal_team_id == team_id:
        raise BadRequest(message)
    return member


async def change_role(
    session: AsyncSession, user: User, team_id: str, user_id: str, role: Role
) -> tuple[Membership, User]:
    access = await _locked(session, user, team_id)
    _require_assign(access, role)
    membership = await _target(session, access, user_id)
    _require_assign(access, Role(membership.role))
    member = await _refuse_personal_owner(
        session, access.team.id, user_id, "The owner of a personal team keeps the owner role"
    )
    if role != Role.OWNER:
        await _keep_an_owner(session, membership)
    membership.role = role
    return membership, member


async def remove_member(session: AsyncSession, user: User, team_id: str, user_id: str) -> None:
    access = await _locked(session, user, team_id)
    membership = await _target(session, access, user_id)
    if user_id != user.id:
        _require_assign(access, Role(membership.role))
    await _refuse_personal_owner(
        session, access.team.id, user_id, "Nobody can leave or be removed from their personal team"
    )
    await _keep_an_owner(session, membership)
    await session.delete(membership)
    await repository.reset_current_team(session, access.team.id, user_id)


async def list_invitations(session: AsyncSession, user: User, team_id: str) -> list[Invitation]:
    access = await team_access(session, user, team_id)
    access.require(Permission.MANAGE_MEMBERS)
    return await repository.pending_invitations(session, access.team.id, utcnow())


async def invite(
    session: AsyncSession, platform: Platform, user: User, team_id: str, email: str, role: Role
) -> Invitation:
    """Invite an address; a new invitation to the same address replaces the pending one."""
    access = await team_access(session, user, team_id)
    _require_assign(access, role)
    member = await users.user_by_email(session, email)
    if member and await repository.membership(session, access.team.id, member.id):
        raise Conflict("This user is already a member of the team")
    now = utcnow()
    for pending in await repository.pending_invitations(session, access.team.id, now, email):
        pending.revoked_at = now
    days = platform.settings.invitation_ttl_days
    secret = crypto.new_token("")
    invitation = Invitation(
        id=new_id("inv"),
        team_id=access.team.id,
        email=email,
        role=role,
        token_hash=crypto.hash_token(secret),
        invited_by=user.id,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invitation)
    mail = mails.invitation(
        email, platform.public_url, secret, access.team.name, user.name or user.email, role, days
    )
    mail_after_commit(session, platform, mail)
    return invitation


async def revoke_invitation(
    session: AsyncSession, user: User, team_id: str, invitation_id: str
) -> None:
    access = await team_access(session, user, team_id)
    access.require(Permission.MANAGE_MEMBERS)
    if not await repository.revoke_invitation(session, access, invitation_id, utcnow()):
        raise NotFound("Invitation not found")


async def accept_invitation(session: AsyncSession, user: User, secret: str) -> TeamView:
    invitation = await repository.invitation_by_hash(session, crypto.hash_token(secret))
    now = utcnow()
    if (
        invitation is None
        or invitation.accepted_at
        or invitation.revoked_at
        or invitation.expires_at <= now
    ):
        raise BadRequest(INVALID_INVITATION)
    if invitation.email != user.email:
        raise Forbidden("This invitation was sent to another email address")
    if not await repository.use_invitation(session, invitation.id, user.id, now):
        raise BadRequest(INVALID_INVITATION)
    if await repository.membership(session, invitation.team_id, user.id) is None:
        session.add(Membership(team_id=invitation.team_id, user_id=user.id, role=invitation.role))
        await session.flush()
    if user.email_verified_at is None:
        user.email_verified_at = now  # the invitation mail reached this address
    return await view(session, await team_access(session, user, invitation.team_id))
