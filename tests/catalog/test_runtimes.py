"""Runtime detection against programs we write ourselves, and the presets built from it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from instapods.catalog import service
from instapods.catalog.runtimes import Probe, Runtime, detect, parse_version


def fake_program(path: Path, output: str, *, flag: str = "--version", stream: int = 1) -> Path:
    """A program that prints `output` (to stdout or stderr) only when called with `flag`."""
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "{flag}" ]; then echo "{output}" >&{stream}; exit 0; fi\n'
        "echo 'unknown option' >&2; exit 2\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("v20.11.1", "20.11.1"),
        ("Python 3.12.3", "3.12.3"),
        ("nginx version: nginx/1.22.1", "1.22.1"),
        ("PHP 8.2.7 (fpm-fcgi) (built: Jun  9 2023 19:37:27)", "8.2.7"),
        ("postgres (PostgreSQL) 15.6 (Debian 15.6-0+deb12u1)", "15.6"),
        ("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64", "7.0.15"),
        ("/usr/sbin/mariadbd  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu", "10.11.6"),
        ("mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)", "8.0.36"),
        ("\n\n  node 22.1.0-nightly\n", "22.1.0"),
    ],
)
def test_parse_version_finds_the_first_dotted_number(output: str, version: str) -> None:
    assert parse_version(output) == version


@pytest.mark.parametrize("output", ["", "version 5", "command not found", "v.1", "1."])
def test_parse_version_without_a_dotted_number_is_none(output: str) -> None:
    assert parse_version(output) is None


async def test_detect_runs_the_program_with_its_flag(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "fakeweb", "fakeweb version: fakeweb/1.25.3", flag="-v")
    found = await detect([Probe("fakeweb", [str(program)], "-v")])
    assert found["fakeweb"].versions == ["1.25.3"]
    assert found["fakeweb"].default == "1.25.3"
    assert found["fakeweb"].programs == {"1.25.3": str(program)}


async def test_detect_reads_versions_printed_on_stderr(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "fake", "fake 2.0.1", stream=2)
    found = await detect([Probe("fake", [str(program)])])
    assert found["fake"].versions == ["2.0.1"]


async def test_detect_with_the_wrong_flag_finds_nothing(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "fake", "fake 2.0.1", flag="-V")
    found = await detect([Probe("fake", [str(program)], "--version")])
    assert found["fake"].versions == []


async def test_detect_lists_every_version_newest_first(tmp_path: Path) -> None:
    for name, version in [("fake-a", "1.9.2"), ("fake-b", "1.10.0"), ("fake-c", "1.10.0")]:
        fake_program(tmp_path / name, f"fake {version}")
    found = await detect([Probe("fake", [str(tmp_path / "fake-*")])])
    runtime = found["fake"]
    assert runtime.versions == ["1.10.0", "1.9.2"]  # numeric order, duplicates once
    assert runtime.default == "1.10.0"
    assert runtime.programs["1.9.2"] == str(tmp_path / "fake-a")


async def test_a_missing_program_is_reported_with_no_versions(tmp_path: Path) -> None:
    found = await detect(
        [
            Probe("ghost", [str(tmp_path / "not-there")]),
            Probe("ghosts", [str(tmp_path / "none-*")]),
            Probe("nameless", ["instapods-test-no-such-program"]),
        ]
    )
    assert set(found) == {"ghost", "ghosts", "nameless"}
    for runtime in found.values():
        assert runtime.versions == []
        assert runtime.default is None
        assert runtime.programs == {}


async def test_a_file_that_is_not_executable_does_not_count(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "fake", "fake 1.0.0")
    program.chmod(0o644)
    found = await detect([Probe("fake", [str(program)])])
    assert found["fake"].versions == []


async def test_a_program_that_cannot_start_is_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    good = fake_program(tmp_path / "good", "good 3.1.4")
    with caplog.at_level(logging.WARNING, logger="instapods.catalog"):
        found = await detect([Probe("lang", [str(broken), str(good)])])
    assert found["lang"].versions == ["3.1.4"]
    assert any(str(broken) in record.getMessage() for record in caplog.records)


async def test_a_program_that_prints_no_version_does_not_count(tmp_path: Path) -> None:
    program = fake_program(tmp_path / "fake", "no version here")
    found = await detect([Probe("fake", [str(program)])])
    assert found["fake"].versions == []


async def test_a_mysqld_linked_to_mariadbd_is_not_mysql(tmp_path: Path) -> None:
    mariadbd = fake_program(tmp_path / "mariadbd", "mariadbd  Ver 10.11.6-MariaDB")
    (tmp_path / "mysqld").symlink_to(mariadbd)
    real_mysql = fake_program(tmp_path / "mysqld-8", "mysqld  Ver 8.0.36 for Linux")
    found = await detect(
        [
            Probe("mariadb", [str(mariadbd)]),
            Probe("mysql", [str(tmp_path / "mysqld"), str(real_mysql)]),
        ]
    )
    assert found["mariadb"].versions == ["10.11.6"]
    assert found["mysql"].versions == ["8.0.36"]
    assert found["mysql"].programs == {"8.0.36": str(real_mysql)}


async def test_presets_built_from_detection(tmp_path: Path) -> None:
    """A preset whose runtime is missing is unavailable and says what is missing."""
    node = fake_program(tmp_path / "node", "v20.11.1")
    found = await detect(
        [
            Probe("node", [str(node)]),
            Probe("python", [str(tmp_path / "no-python")]),
            Probe("nginx", [str(tmp_path / "no-nginx")], "-v"),
        ]
    )
    presets = {p.slug: p for p in service.presets(found)}
    assert (presets["nodejs"].available, presets["nodejs"].missing) == (True, [])
    assert presets["nodejs"].version == "20.11.1"
    assert (presets["python"].available, presets["python"].missing) == (False, ["python"])
    assert presets["python"].version is None
    assert presets["php"].missing == ["php", "nginx"]
    assert presets["static"].missing == ["nginx"]


def test_runtimes_lists_only_what_was_found() -> None:
    found = {
        "node": Runtime("node", ["22.1.0", "20.11.1"]),
        "php": Runtime("php"),
    }
    listed = service.runtimes(found)
    assert [(r.name, r.versions, r.default) for r in listed] == [
        ("node", ["22.1.0", "20.11.1"], "22.1.0")
    ]
