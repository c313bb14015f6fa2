"""The drivers under test. `driver` runs each test once per entry of DRIVERS; `host` gives the
same test that driver's host-side view (tests/runtime/support.py). A test marked
`@pytest.mark.requires(Capability.X)` is skipped for drivers that do not declare X."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from instapods.runtime.base import Capability, Driver
from instapods.runtime.drivers.sandbox.cgroups import PodCgroup
from tests.fixtures.sandbox import sandbox_driver
from tests.runtime.support import Host, SandboxHost, remove_quietly


@asynccontextmanager
async def _sandbox() -> AsyncIterator[Driver]:
    groups: set[Path] = set()
    try:
        async with sandbox_driver() as driver:
            # The driver keeps its (empty) cgroup group per pods directory; remove it after.
            groups = {Path(p).parent for p in PodCgroup.plan(driver.group, "-").paths.values()}
            yield driver
    finally:
        for group in groups:
            remove_quietly(group)


DRIVERS: dict[str, Callable[[], AbstractAsyncContextManager[Driver]]] = {"sandbox": _sandbox}
HOSTS: dict[str, Callable[[Driver], Host]] = {"sandbox": SandboxHost}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip drivers without it")


@pytest.fixture(params=sorted(DRIVERS))
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    async with DRIVERS[request.param]() as opened:
        for marker in request.node.iter_markers("requires"):
            capability: Capability = marker.args[0]
            if capability not in opened.capabilities:
                pytest.skip(f"the {opened.name} driver lacks {capability}")
        yield opened


@pytest.fixture
def host(driver: Driver) -> Host:
    return HOSTS[driver.name](driver)
