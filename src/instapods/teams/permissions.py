"""What each team role may do. The one table every permission check reads."""

from __future__ import annotations

from enum import StrEnum

from instapods.models import Role


class Permission(StrEnum):
    VIEW = "view"  # see the team, its members, its pods and their data
    MANAGE_PODS = "manage_pods"  # create, change and delete pods, files, services, domains
    VIEW_BILLING = "view_billing"
    MANAGE_BILLING = "manage_billing"
    MANAGE_TEAM = "manage_team"  # rename the team
    MANAGE_MEMBERS = "manage_members"  # add and remove members, invite, change roles
    DELETE_TEAM = "delete_team"


_VIEWER = {Permission.VIEW}
_MEMBER = _VIEWER | {Permission.MANAGE_PODS, Permission.VIEW_BILLING}
_ADMIN = _MEMBER | {Permission.MANAGE_TEAM, Permission.MANAGE_MEMBERS}
_OWNER = _ADMIN | {Permission.MANAGE_BILLING, Permission.DELETE_TEAM}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_VIEWER),
    Role.MEMBER: frozenset(_MEMBER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_OWNER),
}

RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def can_assign(actor: Role, target: Role) -> bool:
    """Admins hand out any role up to admin; only an owner makes (or unmakes) owners."""
    return actor is Role.OWNER or RANK[target] < RANK[Role.OWNER]
