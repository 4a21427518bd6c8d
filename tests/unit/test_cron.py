from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from extsched.domain import cron
from extsched.domain.cron import CronInvalid

TOO_OFTEN = "cron fires more often than every 5 minutes (two fires can be {} apart)"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0-59 * * * *", TOO_OFTEN.format("1 minute")),
        ("1,2 * * * *", TOO_OFTEN.format("1 minute")),
        ("* 3 * * *", TOO_OFTEN.format("1 minute")),
        ("*/4 * * * *", TOO_OFTEN.format("4 minutes")),
        ("0,1 0 1 1 *", TOO_OFTEN.format("1 minute")),
        ("1,58 0,23 * * *", TOO_OFTEN.format("3 minutes")),
        ("58,1 23,0 * * SAT,SUN", TOO_OFTEN.format("3 minutes")),
        ("58,1 23,0 31,1 * *", TOO_OFTEN.format("3 minutes")),
        ("99 * * * *", "minute: 99 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("0 0 * 13 *", "month: 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week: 8 is out of range 0-7"),
        ("*/0 * * * *", "minute: step must be a positive number"),
        ("5-1 * * * *", "minute: range 5-1 goes backwards"),
        ("0 0 * FOO *", "month: 'FOO' is not a number or a name"),
        (
            "0 0 0 * * *",
            "cron must have exactly 5 fields: minute hour day-of-month month day-of-week (seconds and year fields are not supported)",
        ),
        (
            "0 0 1 1 * 2030",
            "cron must have exactly 5 fields: minute hour day-of-month month day-of-week (seconds and year fields are not supported)",
        ),
        (
            "0 0 * *",
            "cron must have exactly 5 fields: minute hour day-of-month month day-of-week (seconds and year fields are not supported)",
        ),
        ("@daily", "macros such as @daily are not supported; write the 5 fields"),
        ("@hourly", "macros such as @daily are not supported; write the 5 fields"),
        ("0 0 L * *", "the special characters L, W, # and ? are not supported"),
        ("0 0 15W * *", "the special characters L, W, # and ? are not supported"),
        ("0 0 * * 5#2", "the special characters L, W, # and ? are not supported"),
        ("0 0 ? * MON", "the special characters L, W, # and ? are not supported"),
        (
            "0 0 1 * MON",
            "set day-of-month or day-of-week, not both (cron would fire when either matches)",
        ),
        ("0 0 31 2 *", "cron never fires: no selected month has the selected day"),
        ("", "cron is required"),
        ("0 0 * * *" + " " * 120 + "x", "cron must be at most 128 characters"),
    ],
)
def test_it_rejects_with_a_stable_message(expr: str, message: str) -> None:
    with pytest.raises(CronInvalid) as info:
        cron.validate(expr)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "expr",
    [
        "*/5 * * * *",
        "0 * * * *",
        "0 9 * * MON-FRI",
        "30 2 * * *",
        "0 0 * JAN-MAR *",
        "0 0 * JUL WED",
        "0 12 1 * *",
        "1 0 1,31 * *",
        "58 23 * * 1",
        "58,3 23,0 * * MON,WED",  # 23:58 Mon and 00:03 Tue are 5 minutes apart
        "0 0 29 2 *",
        "0,30 * * * 7",
    ],
)
def test_it_accepts_valid_expressions(expr: str) -> None:
    assert cron.validate(expr).expr == " ".join(expr.split())


def test_the_interval_is_judged_across_midnight_only_when_days_can_be_consecutive() -> None:
    # 23:58 and 00:01 are 3 minutes apart only when the next day fires too.
    cron.validate("58,1 23,0 * * MON,WED")
    with pytest.raises(CronInvalid):
        cron.validate("58,1 23,0 * * MON,TUE")
    with pytest.raises(CronInvalid):
        cron.validate("58,1 23,0 * * SAT,SUN")  # Saturday then Sunday
    cron.validate("58,1 23,0 1,15 * *")
    with pytest.raises(CronInvalid):
        cron.validate("58,1 23,0 30,1 * *")  # 30 April then 1 May


def test_description_is_human_text() -> None:
    assert cron.describe("0 9 * * MON-FRI") == "At 09:00 on Monday through Friday"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_strings(expr: str, tz: str, after: datetime, n: int) -> list[str]:
    zone = ZoneInfo(tz)
    return [o.astimezone(zone).isoformat() for o in cron.occurrences(expr, tz, after, n)]


class TestDaylightSaving:
    def test_new_york_spring_forward_fires_once_right_after_the_gap(self) -> None:
        assert local_strings("30 2 * * *", "America/New_York", utc(2027, 3, 13, 12), 3) == [
            "2027-03-14T03:00:00-04:00",
            "2027-03-15T02:30:00-04:00",
            "2027-03-16T02:30:00-04:00",
        ]

    def test_new_york_fall_back_fires_once_at_the_first_pass(self) -> None:
        assert local_strings("30 1 * * *", "America/New_York", utc(2027, 11, 6, 12), 2) == [
            "2027-11-07T01:30:00-04:00",
            "2027-11-08T01:30:00-05:00",
        ]

    def test_new_york_half_hourly_skips_the_repeated_hour(self) -> None:
        assert local_strings("*/30 * * * *", "America/New_York", utc(2027, 11, 7, 4, 45), 5) == [
            "2027-11-07T01:00:00-04:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T02:00:00-05:00",
            "2027-11-07T02:30:00-05:00",
            "2027-11-07T03:00:00-05:00",
        ]

    def test_london_gap_and_overlap(self) -> None:
        assert local_strings("15 1 * * *", "Europe/London", utc(2027, 3, 27, 12), 2) == [
            "2027-03-28T02:00:00+01:00",
            "2027-03-29T01:15:00+01:00",
        ]
        assert local_strings("15 1 * * *", "Europe/London", utc(2027, 10, 30, 12), 2) == [
            "2027-10-31T01:15:00+01:00",
            "2027-11-01T01:15:00+00:00",
        ]

    def test_lord_howe_half_hour_shift(self) -> None:
        # Spring forward 02:00 -> 02:30 (+10:30 -> +11:00): 02:15 does not exist that day.
        assert local_strings("15 2 * * *", "Australia/Lord_Howe", utc(2027, 10, 2, 0), 2) == [
            "2027-10-03T02:30:00+11:00",
            "2027-10-04T02:15:00+11:00",
        ]
        # Fall back 02:00 -> 01:30: 01:30-02:00 happens twice; each wall time fires once.
        assert local_strings("*/15 1 * * *", "Australia/Lord_Howe", utc(2027, 4, 3, 13), 5) == [
            "2027-04-04T01:00:00+11:00",
            "2027-04-04T01:15:00+11:00",
            "2027-04-04T01:30:00+11:00",
            "2027-04-04T01:45:00+11:00",
            "2027-04-05T01:00:00+10:30",
        ]

    def test_several_gap_times_collapse_into_one_fire(self) -> None:
        assert local_strings("0,30 2 * * *", "America/New_York", utc(2027, 3, 13, 12), 2) == [
            "2027-03-14T03:00:00-04:00",
            "2027-03-15T02:00:00-04:00",
        ]


def test_occurrences_are_strictly_after_the_given_instant() -> None:
    at = utc(2027, 1, 1, 10, 0)
    assert cron.occurrences("0 10 * * *", "UTC", at, 1) == [utc(2027, 1, 2, 10, 0)]
    assert cron.occurrences("0 10 * * *", "UTC", at - timedelta(seconds=1), 1) == [at]


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
minute_field = st.sampled_from(["0", "*/5", "15,45", "0-55/10", "7", "*/30"])
hour_field = st.sampled_from(["*", "1", "2", "1-3", "*/2", "0,12", "23"])
dow_field = st.sampled_from(["*", "MON-FRI", "SUN", "0,6"])
exprs = st.builds(lambda m, h, d: f"{m} {h} * * {d}", minute_field, hour_field, dow_field)
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=150, deadline=None)
@given(expr=exprs, tz=st.sampled_from(ZONES), after=starts)
def test_occurrence_properties(expr: str, tz: str, after: datetime) -> None:
    cron.validate(expr)
    zone = ZoneInfo(tz)
    found = cron.occurrences(expr, tz, after, 40)
    assert found[0] > after
    assert all(a < b for a, b in itertools.pairwise(found)), "strictly increasing"
    walls = [o.astimezone(zone).replace(tzinfo=None) for o in found]
    assert len(set(walls)) == len(walls), "never two occurrences for one local wall time"
    for o in found:
        local = o.astimezone(zone)
        # No occurrence inside a gap: the wall time round-trips through the zone.
        assert local.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC) == o
        # Each occurrence matches the expression in local time, or is the first instant after
        # a gap that swallowed a matching wall time.
        naive = local.replace(tzinfo=None)
        matches = next(CronSim(expr, naive - timedelta(minutes=1))) == naive
        shifted = local.dst() != (local - timedelta(hours=1)).dst()
        assert matches or shifted


def _brute_consecutive(p: cron.ParsedCron) -> bool:
    """Walk eight calendar years (two leap cycles of weekday alignments) day by day."""
    start = datetime(2000, 1, 1).date()
    days = [start + timedelta(days=i) for i in range(366 * 4 + 365 * 4 + 1)]

    def fires(d: object) -> bool:
        assert hasattr(d, "month")
        if d.month not in p.months:  # type: ignore[attr-defined]
            return False
        if p.dom_restricted:
            return d.day in p.days  # type: ignore[attr-defined]
        if p.dow_restricted:
            return d.isoweekday() % 7 in p.weekdays  # type: ignore[attr-defined]
        return True

    return any(fires(a) and fires(b) for a, b in itertools.pairwise(days))


day_lists = st.lists(st.integers(1, 31), min_size=1, max_size=4, unique=True)
month_lists = st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True)
weekday_lists = st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True)


@settings(max_examples=300, deadline=None)
@given(
    days=day_lists,
    months=month_lists,
    weekdays=weekday_lists,
    which=st.sampled_from(["dom", "dow", "none"]),
)
def test_the_consecutive_days_rule_matches_the_calendar(
    days: list[int], months: list[int], weekdays: list[int], which: str
) -> None:
    dom = ",".join(map(str, days)) if which == "dom" else "*"
    dow = ",".join(map(str, weekdays)) if which == "dow" else "*"
    expr = f"0 0 {dom} {','.join(map(str, months))} {dow}"
    try:
        p = cron.parse(expr)
    except CronInvalid as exc:
        # Refused only when no calendar day ever matches (31 June, 30 February).
        assert "never fires" in str(exc), exc
        assert not any(_matches(d, days if which == "dom" else None, months) for d in _DAYS)
        assume(False)
    assert cron.fires_on_consecutive_days(p) == _brute_consecutive(p)


_DAYS = [datetime(2000, 1, 1).date() + timedelta(days=i) for i in range(366 * 4 + 365 * 4 + 1)]


def _matches(day: Any, days: list[int] | None, months: list[int]) -> bool:
    return day.month in months and (days is None or day.day in days)
