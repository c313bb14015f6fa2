"""Cron schedules: parsing, refusing bad ones, and matching moments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from instapods.kit.cron import CronError, Schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "moment", "expected"),
    [
        ("* * * * *", "2026-11-29T10:07:00", True),
        ("*/5 * * * *", "2026-11-29T10:05:00", True),
        ("*/5 * * * *", "2026-11-29T10:07:00", False),
        ("0 3 * * *", "2026-11-29T03:00:00", True),
        ("0 3 * * *", "2026-11-29T04:00:00", False),
        ("15,45 9-17 * * mon-fri", "2026-11-30T09:45:00", True),  # a Monday
        ("15,45 9-17 * * mon-fri", "2026-11-29T09:45:00", False),  # a Sunday
        ("0 0 1 jan *", "2027-01-01T00:00:00", True),
        ("0 0 * * 7", "2026-11-29T00:00:00", True),  # 7 is Sunday too
        ("0 0 13 * fri", "2026-11-13T00:00:00", True),  # day OR weekday when both are set
        ("0 0 13 * fri", "2026-11-20T00:00:00", True),
        ("0 0 13 * fri", "2026-11-21T00:00:00", False),
        ("@hourly", "2026-11-29T10:00:00", True),
        ("@daily", "2026-11-29T10:00:00", False),
    ],
)
def test_schedules_match_the_moments_cron_would_run(
    schedule: str, moment: str, expected: bool
) -> None:
    assert Schedule.parse(schedule).matches(at(moment)) is expected


@pytest.mark.parametrize(
    "schedule",
    ["", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *",
     "5-1 * * * *", "x * * * *", "* * * foo *", "@sometimes"],
)  # fmt: skip
def test_bad_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(CronError):
        Schedule.parse(schedule)
