"""Timestamps: timezone-aware UTC, rendered as ISO-8601 with `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from instapods.kit.clock import as_utc, isoformat, utcnow

LOW, HIGH = datetime(1970, 1, 2), datetime(9999, 12, 30)
MOMENTS = st.one_of(
    st.datetimes(LOW, HIGH),  # naive, as SQLite returns them
    st.datetimes(LOW, HIGH, timezones=st.timezones()),
)


def test_utcnow_is_aware_utc_without_microseconds() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert now.microsecond == 0
    assert abs(datetime.now(UTC) - now) < timedelta(seconds=2)


def test_isoformat_ends_with_z() -> None:
    moment = datetime(2026, 2, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert isoformat(moment) == "2026-02-20T10:00:00Z"


def test_isoformat_converts_other_zones_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert isoformat(datetime(2026, 2, 20, 11, 30, tzinfo=paris)) == "2026-02-20T10:30:00Z"


def test_naive_datetimes_are_taken_as_utc() -> None:
    """SQLite hands back naive datetimes that were stored as UTC."""
    naive = datetime(2026, 2, 20, 10, 0)
    assert as_utc(naive) == datetime(2026, 2, 20, 10, 0, tzinfo=UTC)
    assert isoformat(naive) == "2026-02-20T10:00:00Z"


@given(MOMENTS)
def test_any_datetime_renders_as_utc_with_z(moment: datetime) -> None:
    rendered = isoformat(moment)
    assert rendered.endswith("Z")
    assert "+" not in rendered
    assert len(rendered) == len("2026-02-20T10:00:00Z")
    parsed = datetime.fromisoformat(rendered)
    assert parsed == as_utc(moment).replace(microsecond=0)
