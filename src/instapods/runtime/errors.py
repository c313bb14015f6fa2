"""Errors a runtime driver may raise. Drivers translate their own failures into these at the
boundary; the pods domain maps them to API errors."""

from __future__ import annotations


class RuntimeDriverError(Exception):
    """Something went wrong in the runtime; the message is safe to show an operator."""


class PodNotFound(RuntimeDriverError):
    """The runtime has no pod with this id."""


class CapacityExceeded(RuntimeDriverError):
    """The host cannot take this pod (addresses, uids or resources are exhausted)."""


class DiskTooSmall(RuntimeDriverError):
    """The pod's files do not fit in the requested disk size."""


class ExecFailed(RuntimeDriverError):
    """A command could not be started inside the pod."""


class Unsupported(RuntimeDriverError):
    """The driver lacks a capability the caller needs (check `capabilities` first)."""
