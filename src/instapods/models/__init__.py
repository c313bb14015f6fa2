"""Every ORM table. Import from here so Alembic and the app see the whole schema."""

from instapods.models.base import Base
from instapods.models.invitation import Invitation
from instapods.models.job import Job, JobStatus
from instapods.models.membership import Membership, Role
from instapods.models.pod import Pod
from instapods.models.pod_event import PodEvent
from instapods.models.server import Server
from instapods.models.team import Team
from instapods.models.token import ApiToken, EmailToken
from instapods.models.user import User

__all__ = [
    "ApiToken",
    "Base",
    "EmailToken",
    "Invitation",
    "Job",
    "JobStatus",
    "Membership",
    "Pod",
    "PodEvent",
    "Role",
    "Server",
    "Team",
    "User",
]
