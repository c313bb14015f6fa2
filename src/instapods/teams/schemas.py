from __future__ import annotations

from pydantic import Field

from instapods.kit.schema import Schema, Timestamp
from instapods.kit.text import Email, Secret, TeamName
from instapods.models import Role


class TeamOut(Schema):
    id: str
    name: str
    role: Role = Field(description="The caller's role in this team.")
    personal: bool
    current: bool
    member_count: int
    created_at: Timestamp


class MemberOut(Schema):
    user_id: str
    email: str
    name: str | None
    role: Role
    joined_at: Timestamp


class TeamDetailOut(TeamOut):
    members: list[MemberOut]


class TeamsOut(Schema):
    teams: list[TeamOut]


class MembersOut(Schema):
    members: list[MemberOut]


class InvitationOut(Schema):
    id: str
    email: str
    role: Role
    invited_by: str | None
    expires_at: Timestamp
    created_at: Timestamp


class InvitationsOut(Schema):
    invitations: list[InvitationOut]


class TeamIn(Schema):
    name: TeamName


class SwitchIn(Schema):
    team_id: str = Field(max_length=64)


class SwitchOut(Schema):
    current_team_id: str


class MemberIn(Schema):
    email: Email
    role: Role = Role.MEMBER


class RoleIn(Schema):
    role: Role


class AcceptIn(Schema):
    token: Secret
