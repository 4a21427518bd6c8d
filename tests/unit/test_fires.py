"""How a fire from Temporal is recorded: the cron engine's DST rule and the catch-up rule, with
real zones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from extsched.domain.fires import FireJudgement, Span, judge

NY, PARIS = "America/New_York", "Europe/Paris"
WINDOW = timedelta(minutes=10)


def local(tz: str, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)  # type: ignore[misc]


def fired(
    cron: str,
    tz: str,
    at: datetime,
    since: datetime,
    now: datetime | None = None,
    last_recorded: datetime | None = None,
    busy: Sequence[Span] = (),
) -> FireJudgement:
    return judge(
        tenant_id="t",
        install_id="i",
        schedule_id="s",
        cron=cron,
        timezone=tz,
        fired_for=at,
        since=since,
        now=now or at + timedelta(seconds=1),
        window=WINDOW,
        last_recorded=last_recorded,
        busy=busy,
    )


def test_an_expected_fire_runs_and_misses_nothing() -> None:
    at = local(PARIS, 2027, 5, 3, 9, 0)
    j = fired("0 9 * * *", PARIS, at, since=at - timedelta(days=1))
    assert (j.due.run_for, j.due.missed_count, j.dst_duplicate) == (at, 0, False)


def test_the_second_pass_over_a_repeated_wall_time_is_a_dst_duplicate() -> None:
    first = local(NY, 2027, 11, 7, 1, 30)
    second = local(NY, 2027, 11, 7, 1, 30, fold=1)
    assert second - first == timedelta(hours=1)
    j = fired("30 1 * * *", NY, second, since=first)  # the first pass ran already
    assert (j.due.run_for, j.dst_duplicate, j.due.missed_count) == (None, True, 0)


def test_a_second_pass_whose_first_never_fired_stands_for_the_wall_times_occurrence() -> None:
    """Temporal fires only the second 02:30 of Paris's fall-back night: it runs, once, for the
    occurrence the cron engine expects (the first 02:30)."""
    first = local(PARIS, 2027, 10, 31, 2, 30)
    second = local(PARIS, 2027, 10, 31, 2, 30, fold=1)
    j = fired("30 2 * * *", PARIS, second, since=first - timedelta(days=1))
    assert (j.due.run_for, j.dst_duplicate, j.due.missed_count) == (first, False, 0)


def test_occurrences_older_than_the_window_become_one_missed_record() -> None:
    since = datetime(2027, 5, 3, 10, 0, tzinfo=UTC)
    at = datetime(2027, 5, 3, 12, 0, tzinfo=UTC)
    j = fired("*/5 * * * *", "UTC", at, since=since, now=at + timedelta(seconds=30))
    assert j.due.run_for == at
    # 10:05 up to 11:55: the newest occurrence runs, every other one is missed.
    assert j.due.missed_count == 23
    assert (j.due.missed_first, j.due.missed_last) == (
        datetime(2027, 5, 3, 10, 5, tzinfo=UTC),
        datetime(2027, 5, 3, 11, 55, tzinfo=UTC),
    )
    # Temporal's own catch-up fire for 11:55, arriving after 12:00 was recorded, adds nothing.
    late = fired(
        "*/5 * * * *", "UTC", at - timedelta(minutes=5), since=at, last_recorded=at, now=at
    )
    assert (late.due.run_for, late.due.missed_count, late.dst_duplicate) == (None, 0, False)


def test_occurrences_inside_the_window_that_were_never_fired_are_counted_missed() -> None:
    """After a short outage Temporal's catch-up (overlap SKIP) may fire only the latest
    occurrence: the ones before it are missed, as the embedded backend records them."""
    since = datetime(2027, 5, 3, 10, 0, tzinfo=UTC)  # 10:00 ran
    at = datetime(2027, 5, 3, 10, 4, tzinfo=UTC)
    j = fired("* * * * *", "UTC", at, since=since, last_recorded=since, now=at)
    assert j.due.run_for == at
    assert (j.due.missed_first, j.due.missed_last, j.due.missed_count) == (
        since + timedelta(minutes=1),
        since + timedelta(minutes=3),
        3,
    )


def test_occurrences_passed_over_while_a_run_was_active_are_overlaps_not_misses() -> None:
    """Temporal's overlap SKIP passes over fires while a fire's call is still going: those that
    fell while a run of the schedule was active are skipped as overlaps, one by one, as the
    embedded backend records them; the rest stay missed."""
    since = datetime(2027, 5, 3, 10, 0, tzinfo=UTC)  # 10:00 ran, its call until 10:02:30
    at = datetime(2027, 5, 3, 10, 5, tzinfo=UTC)
    minute = timedelta(minutes=1)
    ended = since + timedelta(minutes=2, seconds=30)
    j = fired(
        "* * * * *", "UTC", at, since=since, last_recorded=since, now=at, busy=[(since, ended)]
    )
    assert j.overlapped == (since + minute, since + 2 * minute)
    assert (j.due.missed_first, j.due.missed_last, j.due.missed_count) == (
        since + 3 * minute,
        since + 4 * minute,
        2,
    )
    assert j.due.run_for == at
    # A run still active (no end) covers every occurrence since it began.
    j = fired(
        "* * * * *",
        "UTC",
        at,
        since=since,
        last_recorded=since,
        now=at,
        busy=[(since + 2 * minute, None)],
    )
    assert j.overlapped == (since + 2 * minute, since + 3 * minute, since + 4 * minute)
    assert (j.due.missed_first, j.due.missed_count) == (since + minute, 1)


def test_a_change_just_before_a_fire_is_handled_does_not_lose_the_fire() -> None:
    at = datetime(2027, 5, 3, 10, 1, tzinfo=UTC)
    changed = at + timedelta(milliseconds=50)  # e.g. the payload edited as the fire arrived
    j = fired("* * * * *", "UTC", at, since=changed, last_recorded=at - timedelta(minutes=1))
    assert (j.due.run_for, j.due.missed_count) == (at, 0)


def test_a_fire_with_a_newer_occurrence_due_or_too_old_is_missed_not_run() -> None:
    now = datetime(2027, 5, 3, 12, 0, 30, tzinfo=UTC)
    stale = fired(
        "*/5 * * * *",
        "UTC",
        now - timedelta(minutes=5, seconds=30),
        since=now - timedelta(minutes=6),
        now=now,
    )
    assert (stale.due.run_for, stale.due.missed_count) == (None, 1)
    old = fired(
        "0 * * * *",
        "UTC",
        datetime(2027, 5, 3, 11, 0, tzinfo=UTC),
        since=datetime(2027, 5, 3, 10, 0, tzinfo=UTC),
        now=now,
    )
    assert (old.due.run_for, old.due.missed_count, old.due.missed_first) == (
        None,
        1,
        datetime(2027, 5, 3, 11, 0, tzinfo=UTC),
    )


def test_the_spring_forward_occurrence_temporal_never_fires_is_counted_missed_the_next_day() -> (
    None
):
    day_before = local(NY, 2027, 3, 13, 2, 30)
    day_after = local(NY, 2027, 3, 15, 2, 30)
    j = fired("30 2 * * *", NY, day_after, since=day_before)
    assert (j.due.run_for, j.due.missed_count, j.due.missed_first) == (
        day_after,
        1,
        local(NY, 2027, 3, 14, 3, 0),
    )
