"""The private Unix socket the API listens on, and the edge's paths."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from instapods.edge.paths import check_socket_path, listen_private, socket_answers


def test_the_socket_is_private_and_answers(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / "api.sock"
    with listen_private(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert socket_answers(path)
    assert not socket_answers(path)


def test_a_stale_socket_is_replaced(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / "api.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed server leaves
    with listen_private(path):
        assert socket_answers(path)


def test_a_live_socket_is_not_taken_over(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = data_dir / "api.sock"
    with listen_private(path), pytest.raises(RuntimeError, match="another server"):
        listen_private(path)


def test_a_socket_path_too_long_for_the_kernel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter data dir"):
        check_socket_path(tmp_path / ("x" * 120) / "api.sock")
