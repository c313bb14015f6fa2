"""Files fixtures: the pods fixtures (a signed-in owner, slots of this worker's own)."""

from tests.pods.conftest import _slots_of_this_worker, api, owner, rows

__all__ = ["_slots_of_this_worker", "api", "owner", "rows"]
