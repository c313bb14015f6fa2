"""The HTTP edge: Caddy, driven through its admin API on a Unix socket in the data dir.

`routes` builds Caddy's JSON configuration from our state (pure); `admin` is the thin client of
Caddy's admin API; `process` starts, adopts and stops the one Caddy of a data dir; `edge.Edge`
holds the routes and pushes each change; `server.EdgeServer` is the supervisor's component.
"""

from instapods.edge.admin import CaddyAdmin, EdgeError
from instapods.edge.edge import Edge
from instapods.edge.routes import EdgeConfig, PodRoute

__all__ = ["CaddyAdmin", "Edge", "EdgeConfig", "EdgeError", "PodRoute"]
