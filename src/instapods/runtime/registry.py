"""The explicit registry of runtime drivers, chosen by name in the settings."""

from __future__ import annotations

from collections.abc import Callable

from instapods.config import Settings
from instapods.runtime.base import Driver

Factory = Callable[[Settings], Driver]
_DRIVERS: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    _DRIVERS[name] = factory


def create(settings: Settings) -> Driver:
    """The driver the settings name (`INSTAPODS_RUNTIME`), built from those settings."""
    _load_builtin()
    if settings.runtime not in _DRIVERS:
        known = ", ".join(sorted(_DRIVERS)) or "none"
        raise ValueError(f"unknown runtime driver {settings.runtime!r} (known: {known})")
    return _DRIVERS[settings.runtime](settings)


def _load_builtin() -> None:
    from instapods.runtime.drivers.sandbox import driver  # noqa: F401 (registers "sandbox")


def names() -> list[str]:
    return sorted(_DRIVERS)
