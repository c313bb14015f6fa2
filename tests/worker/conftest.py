"""Fixtures of the worker tests: the running app's platform and a registry of one's own."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from instapods.platform import Platform
from instapods.worker import Registry
from tests.worker.support import Recorder


@pytest.fixture
def platform(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


@pytest.fixture
def registry() -> Registry:
    """A registry per test, so test handlers never leak into the default one."""
    return Registry()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
