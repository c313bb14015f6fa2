"""Pods fixtures: a signed-in owner of a personal team, a client acting as them, the rows, and
slots of this test worker's own for every pod the tests create."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from instapods.pods import service
from tests.fixtures.factories import Factory, UserHandle
from tests.fixtures.http import Client
from tests.fixtures.sandbox import next_slot
from tests.pods.support import Rows


@pytest.fixture(autouse=True)
def _slots_of_this_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pod's network namespace, veth and uid are named after its slot host-wide, but the
    pods domain numbers slots from 1 in each database: two test workers (or a developer's
    server) would take each other's `ipod-1`. Pods of these tests take the slots the sandbox
    fixtures give this worker instead (see tests/e2e/support.py for the same problem)."""

    async def slot_of_this_worker(caller: service.Caller) -> int:
        return next_slot()

    monkeypatch.setattr(service, "_free_slot", slot_of_this_worker)


@pytest.fixture
async def owner(factory: Factory) -> UserHandle:
    return await factory.user("owner@example.com")


@pytest.fixture
def api(client: Client, owner: UserHandle) -> Client:
    """The client, signed in as `owner` (acting in their personal team)."""
    return client.as_user(owner.token)


@pytest.fixture
def rows(app: FastAPI) -> Rows:
    return Rows(app)
