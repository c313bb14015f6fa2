"""The public catalog: plans from configuration, presets, runtimes and regions from this host."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from instapods.catalog.presets import BY_SLUG
from instapods.catalog.runtimes import POD_PATH, PROBES
from instapods.config import PlanConfig, Settings
from tests.catalog.conftest import Serve
from tests.fixtures.http import Client

DEFAULT_PLANS: list[dict[str, Any]] = [
    {"slug": "launch", "cpu": 1, "memory_mb": 512, "disk_gb": 10, "price_cents": 300},
    {"slug": "build", "cpu": 2, "memory_mb": 2048, "disk_gb": 25, "price_cents": 700},
    {"slug": "grow", "cpu": 2, "memory_mb": 4096, "disk_gb": 50, "price_cents": 1500},
    {"slug": "scale", "cpu": 4, "memory_mb": 8192, "disk_gb": 100, "price_cents": 2500},
    {"slug": "turbo", "cpu": 6, "memory_mb": 12288, "disk_gb": 150, "price_cents": 4900},
]
CUSTOM_PLAN = {
    "slug": "tiny",
    "name": "Tiny",
    "cpu": 0.5,
    "memory_mb": 256,
    "disk_gb": 1,
    "price_cents": 100,
    "currency": "eur",
    "services_allowed": False,
}


def host_version(argv: list[str]) -> str:
    """What the program itself says, e.g. `v20.11.1` -> `20.11.1`."""
    if not os.access(argv[0], os.X_OK):
        pytest.skip(f"{argv[0]} is not installed on this host")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True)
    return (result.stdout + result.stderr).split()[-1].removeprefix("v")


def on_host(probe_programs: list[str]) -> bool:
    """Whether any candidate program of a probe exists where pods can see it."""
    for program in probe_programs:
        if "*" in program:
            if glob.glob(program):
                return True
        elif shutil.which(program, path=POD_PATH):
            return True
    return False


async def get(client: Client, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- plans ---------------------------------------------------------------------------------------


async def test_default_plans_are_the_documented_five(client: Client) -> None:
    plans = (await get(client, "/api/plans"))["plans"]
    assert [p["slug"] for p in plans] == [p["slug"] for p in DEFAULT_PLANS]
    for plan, expected in zip(plans, DEFAULT_PLANS, strict=True):
        assert set(plan) == {
            "slug",
            "name",
            "cpu",
            "memory_mb",
            "disk_gb",
            "price_cents",
            "currency",
            "services_allowed",
        }
        assert {k: plan[k] for k in expected} == expected
        assert plan["name"] == plan["slug"].capitalize()
        assert plan["currency"] == "usd"
        assert plan["services_allowed"] is (plan["slug"] != "launch")


async def test_plans_need_no_authentication(client: Client) -> None:
    client.cookies.clear()
    assert "authorization" not in client.headers
    for path in ("/api/plans", "/api/presets", "/api/regions", "/api/runtimes"):
        assert (await client.get(path)).status_code == 200, path


async def test_plans_from_settings_replace_the_defaults(serve: Serve) -> None:
    async with serve(plans=[PlanConfig(**CUSTOM_PLAN)]) as client:
        assert (await get(client, "/api/plans"))["plans"] == [CUSTOM_PLAN]


async def test_plans_from_the_environment_replace_the_defaults(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = {**CUSTOM_PLAN, "slug": "huge", "name": "Huge", "cpu": 32}
    monkeypatch.setenv("INSTAPODS_PLANS", json.dumps([CUSTOM_PLAN, second]))
    async with serve() as client:
        plans = (await get(client, "/api/plans"))["plans"]
    assert [p["slug"] for p in plans] == ["tiny", "huge"]
    assert plans[1]["cpu"] == 32
    assert plans[0] == CUSTOM_PLAN


@pytest.mark.parametrize(
    "bad",
    [{"slug": "Bad Slug"}, {"cpu": 0}, {"memory_mb": -1}, {"price_cents": -5}],
)
def test_an_invalid_plan_in_the_environment_is_refused(
    bad: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTAPODS_PLANS", json.dumps([{**CUSTOM_PLAN, **bad}]))
    with pytest.raises(ValidationError):
        Settings()


# -- presets -------------------------------------------------------------------------------------


async def test_presets_have_the_documented_shape_and_ports(client: Client) -> None:
    presets = {p["slug"]: p for p in (await get(client, "/api/presets"))["presets"]}
    assert list(presets) == ["static", "php", "nodejs", "python"]
    for preset in presets.values():
        assert {
            "slug",
            "name",
            "runtime",
            "version",
            "app_port",
            "web_server",
            "dependency_file",
            "detect_files",
        } <= set(preset)
        assert preset["detect_files"]
    assert {slug: p["app_port"] for slug, p in presets.items()} == {
        "static": 80,
        "php": 80,
        "nodejs": 3000,
        "python": 8000,
    }
    assert presets["php"]["web_server"] == "nginx"
    assert presets["php"]["dependency_file"] == "composer.json"
    assert presets["nodejs"]["dependency_file"] == "package.json"
    assert presets["python"]["dependency_file"] == "requirements.txt"
    assert presets["static"]["dependency_file"] is None
    assert "package.json" in presets["nodejs"]["detect_files"]
    assert "requirements.txt" in presets["python"]["detect_files"]


async def test_presets_report_the_host_versions(client: Client) -> None:
    presets = {p["slug"]: p for p in (await get(client, "/api/presets"))["presets"]}
    assert presets["nodejs"]["runtime"] == "node"
    assert presets["nodejs"]["version"] == host_version(["/usr/bin/node", "--version"])
    assert presets["python"]["version"] == host_version(["/usr/bin/python3", "--version"])


async def test_a_preset_is_available_only_when_all_it_requires_is_found(client: Client) -> None:
    found = {r["name"] for r in (await get(client, "/api/runtimes"))["runtimes"]}
    for preset in (await get(client, "/api/presets"))["presets"]:
        required = BY_SLUG[preset["slug"]].requires
        assert preset["missing"] == [name for name in required if name not in found]
        assert preset["available"] is (not preset["missing"])


async def test_a_preset_without_its_web_server_is_unavailable(client: Client) -> None:
    if shutil.which("nginx", path=POD_PATH):
        pytest.skip("nginx is installed on this host")
    presets = {p["slug"]: p for p in (await get(client, "/api/presets"))["presets"]}
    assert presets["static"]["available"] is False
    assert "nginx" in presets["static"]["missing"]
    assert presets["php"]["available"] is False
    assert "nginx" in presets["php"]["missing"]


# -- runtimes ------------------------------------------------------------------------------------


async def test_runtimes_report_the_real_node_and_python(client: Client) -> None:
    runtimes = {r["name"]: r for r in (await get(client, "/api/runtimes"))["runtimes"]}
    node = host_version(["/usr/bin/node", "--version"])
    python = host_version(["/usr/bin/python3", "--version"])
    assert node in runtimes["node"]["versions"]
    assert python in runtimes["python"]["versions"]
    assert runtimes["python"]["default"] == runtimes["python"]["versions"][0]


async def test_runtimes_list_nothing_that_is_not_there(client: Client) -> None:
    runtimes = (await get(client, "/api/runtimes"))["runtimes"]
    names = [r["name"] for r in runtimes]
    assert len(names) == len(set(names))
    present = {p.name for p in PROBES if on_host(list(p.programs))}
    assert set(names) <= present
    for runtime in runtimes:
        assert set(runtime) == {"name", "versions", "default"}
        assert runtime["versions"]
        assert runtime["default"] == runtime["versions"][0]


def mysqld_is_mariadbd() -> bool:
    mysqld = shutil.which("mysqld", path=POD_PATH)
    mariadbd = shutil.which("mariadbd", path=POD_PATH)
    return bool(mysqld and mariadbd and Path(mysqld).resolve() == Path(mariadbd).resolve())


async def test_a_mysqld_that_is_mariadb_is_not_reported_as_mysql(client: Client) -> None:
    if not mysqld_is_mariadbd():
        pytest.skip("no Debian-style mysqld -> mariadbd link on this host")
    names = {r["name"] for r in (await get(client, "/api/runtimes"))["runtimes"]}
    assert "mariadb" in names
    assert "mysql" not in names


# -- regions -------------------------------------------------------------------------------------


async def test_one_region_with_this_server(client: Client) -> None:
    regions = (await get(client, "/api/regions"))["regions"]
    assert len(regions) == 1
    region = regions[0]
    assert (region["slug"], region["name"], region["available"]) == ("local", "Local", True)
    assert len(region["servers"]) == 1
    server = region["servers"][0]
    assert server["id"].startswith("srv_")
    assert {k: v for k, v in server.items() if k != "id"} == {
        "name": "test-server",
        "status": "online",
        "pods": 0,
        "capacity": 100,
    }


async def test_region_and_capacity_come_from_settings(serve: Serve) -> None:
    overrides = {"server_name": "edge-7", "max_pods": 7, "region": "eu", "region_name": "Europe"}
    async with serve(**overrides) as client:
        regions = (await get(client, "/api/regions"))["regions"]
    assert [(r["slug"], r["name"]) for r in regions] == [("eu", "Europe")]
    server = regions[0]["servers"][0]
    assert (server["name"], server["capacity"]) == ("edge-7", 7)


async def test_a_region_without_capacity_is_unavailable(serve: Serve) -> None:
    async with serve(max_pods=0) as client:
        regions = (await get(client, "/api/regions"))["regions"]
    assert regions[0]["available"] is False
    assert regions[0]["servers"][0]["capacity"] == 0


async def test_a_restart_keeps_the_same_server(serve: Serve) -> None:
    async with serve(max_pods=5) as client:
        first = (await get(client, "/api/regions"))["regions"][0]["servers"]
    async with serve(max_pods=9) as client:
        second = (await get(client, "/api/regions"))["regions"][0]["servers"]
    assert len(second) == 1
    assert second[0]["id"] == first[0]["id"]
    assert second[0]["capacity"] == 9
