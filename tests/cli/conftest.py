"""CLI fixtures: the e2e `platform` (a real `instapods server` with an account, every pod
deleted at the end), and `cli`, the `instapods` command pointed at it as its user."""

from pathlib import Path

import pytest

from tests.cli.support import Cli
from tests.e2e.conftest import platform, pytest_configure
from tests.e2e.support import Platform

__all__ = ["cli", "platform", "pytest_configure"]


@pytest.fixture
def cli(platform: Platform, tmp_path: Path) -> Cli:
    """`instapods` with INSTAPODS_API and INSTAPODS_TOKEN of the platform's account, and HOME
    and XDG_CONFIG_HOME of its own."""
    return Cli(home=tmp_path / "home", api=platform.url, token=platform.token)
