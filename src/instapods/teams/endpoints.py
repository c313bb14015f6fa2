from __future__ import annotations

from fastapi import APIRouter

from instapods.auth.dependencies import CurrentUser
from instapods.db import SessionDep
from instapods.kit.schema import Status
from instapods.models import Membership, User
from instapods.platform import PlatformDep
from instapods.teams import service
from instapods.teams.schemas import (
    AcceptIn,
    InvitationOut,
    InvitationsOut,
    MemberIn,
    MemberOut,
    MembersOut,
    RoleIn,
    SwitchIn,
    SwitchOut,
    TeamDetailOut,
    TeamIn,
    TeamOut,
    TeamsOut,
)
from instapods.teams.service import TeamView

router = APIRouter(prefix="/api/teams", tags=["teams"])
invitations_router = APIRouter(prefix="/api/invitations", tags=["teams"])


def team_out(view: TeamView) -> TeamOut:
    return TeamOut(
        id=view.team.id,
        name=view.team.name,
        role=view.role,
        personal=view.team.personal,
        current=view.current,
        member_count=view.member_count,
        created_at=view.team.created_at,
    )


def member_out(membership: Membership, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=membership.role,
        joined_at=membership.joined_at,
    )


@router.get("")
async def list_teams(session: SessionDep, user: CurrentUser) -> TeamsOut:
    """The caller's teams with their role in each."""
    return TeamsOut(teams=[team_out(v) for v in await service.list_teams(session, user)])


@router.post("", status_code=201)
async def create_team(body: TeamIn, session: SessionDep, user: CurrentUser) -> TeamOut:
    return team_out(await service.create_team(session, user, body.name))


@router.post("/switch")
async def switch_team(body: SwitchIn, session: SessionDep, user: CurrentUser) -> SwitchOut:
    """Make a team the caller's current team: the one every pod, service and bill acts on."""
    return SwitchOut(current_team_id=await service.switch(session, user, body.team_id))


@router.get("/{team_id}")
async def get_team(team_id: str, session: SessionDep, user: CurrentUser) -> TeamDetailOut:
    view = await service.get_team(session, user, team_id)
    members = await service.list_members(session, user, team_id)
    return TeamDetailOut(
        **team_out(view).model_dump(), members=[member_out(m, u) for m, u in members]
    )


@router.put("/{team_id}")
async def rename_team(
    team_id: str, body: TeamIn, session: SessionDep, user: CurrentUser
) -> TeamOut:
    return team_out(await service.rename(session, user, team_id, body.name))


@router.delete("/{team_id}")
async def delete_team(team_id: str, session: SessionDep, user: CurrentUser) -> Status:
    await service.delete_team(session, user, team_id)
    return Status(status="deleted")


@router.get("/{team_id}/members")
async def list_members(team_id: str, session: SessionDep, user: CurrentUser) -> MembersOut:
    members = await service.list_members(session, user, team_id)
    return MembersOut(members=[member_out(m, u) for m, u in members])


@router.post("/{team_id}/members", status_code=201)
async def add_member(
    team_id: str, body: MemberIn, session: SessionDep, user: CurrentUser
) -> MemberOut:
    """Add an existing user directly (owner or admin)."""
    return member_out(*await service.add_member(session, user, team_id, body.email, body.role))


@router.put("/{team_id}/members/{user_id}")
async def change_role(
    team_id: str, user_id: str, body: RoleIn, session: SessionDep, user: CurrentUser
) -> MemberOut:
    """Change a member's role (owner or admin; only owners grant or remove `owner`)."""
    return member_out(*await service.change_role(session, user, team_id, user_id, body.role))


@router.delete("/{team_id}/members/{user_id}")
async def remove_member(
    team_id: str, user_id: str, session: SessionDep, user: CurrentUser
) -> Status:
    """Remove a member (owner or admin), or leave the team (any member, for themself)."""
    await service.remove_member(session, user, team_id, user_id)
    return Status(status="removed")


@router.get("/{team_id}/invitations")
async def list_invitations(team_id: str, session: SessionDep, user: CurrentUser) -> InvitationsOut:
    """Pending invitations (owner or admin)."""
    invitations = await service.list_invitations(session, user, team_id)
    return InvitationsOut(invitations=[InvitationOut.model_validate(i) for i in invitations])


@router.post("/{team_id}/invitations", status_code=201)
async def invite(
    team_id: str, body: MemberIn, session: SessionDep, platform: PlatformDep, user: CurrentUser
) -> InvitationOut:
    """Email a single-use link, valid 7 days, that adds the address to the team."""
    invitation = await service.invite(session, platform, user, team_id, body.email, body.role)
    return InvitationOut.model_validate(invitation)


@router.delete("/{team_id}/invitations/{invitation_id}")
async def revoke_invitation(
    team_id: str, invitation_id: str, session: SessionDep, user: CurrentUser
) -> Status:
    await service.revoke_invitation(session, user, team_id, invitation_id)
    return Status(status="revoked")


@invitations_router.post("/accept")
async def accept_invitation(body: AcceptIn, session: SessionDep, user: CurrentUser) -> TeamOut:
    """Join the team of an invitation sent to the signed-in user's email address."""
    return team_out(await service.accept_invitation(session, user, body.token))
