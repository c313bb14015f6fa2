"""Prefixed random identifiers."""

from __future__ import annotations

import re

import pytest

from instapods.kit.ids import new_id

PREFIXES = ["usr", "team", "pod", "svc", "key", "dom", "inv", "evt", "in", "pm", "deploy", "srv"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_ids_carry_their_prefix(prefix: str) -> None:
    assert re.fullmatch(rf"{prefix}_[a-z0-9]{{20}}", new_id(prefix))


def test_the_length_of_the_random_part_is_chosen() -> None:
    assert re.fullmatch(r"req_[a-z0-9]{16}", new_id("req", 16))


def test_ids_are_unique() -> None:
    ids = {new_id("usr") for _ in range(2_000)}
    assert len(ids) == 2_000


def test_ids_fit_the_id_columns() -> None:
    """Every id column is VARCHAR(32)."""
    assert max(len(new_id(prefix)) for prefix in PREFIXES) <= 32
