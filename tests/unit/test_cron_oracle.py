"""The cron engine against an independent oracle: a minute-by-minute walk of each zone's wall
clock, with its own reading of the five fields and SPEC §5's DST rule applied literally:

- a wall time that happens twice (fall back) fires once, at its first pass;
- wall times that do not exist (spring forward) fire once, together, at the first instant after
  the gap.

Every occurrence the oracle finds in the window is one the engine gives, and nothing else
(completeness both ways). The 5-minute floor is checked the same way, against a walk of eight
calendar years of fire times."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from extsched.domain import cron
from extsched.domain.cron import CronInvalid

MINUTE = timedelta(minutes=1)
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute shift
    "America/Santiago",  # transitions at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
]


def field_values(text: str, lo: int, hi: int, names: list[str] | None = None) -> set[int]:
    """The oracle's own reading of one field: lists, ranges, steps, ``*`` and names."""
    found: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = lo, hi
        else:
            first, _, last = base.partition("-")

            def number(t: str) -> int:
                return (
                    names.index(t.upper()) + (lo if names is MONTHS else 0)
                    if names and t.upper() in names
                    else int(t)
                )

            start = number(first)
            end = number(last) if last else (hi if step_text else start)
        found.update(range(start, end + 1, step))
    return found


class Oracle:
    def __init__(self, expr: str) -> None:
        m, h, dom, mon, dow = expr.split()
        self.minutes = field_values(m, 0, 59)
        self.hours = field_values(h, 0, 23)
        self.days = field_values(dom, 1, 31) if dom != "*" else None
        self.months = field_values(mon, 1, 12, MONTHS)
        weekdays = field_values(dow, 0, 7, DAYS) if dow != "*" else None
        self.weekdays = {d % 7 for d in weekdays} if weekdays is not None else None

    def day_fires(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        if self.days is not None and d.day not in self.days:
            return False
        return self.weekdays is None or d.isoweekday() % 7 in self.weekdays

    def fires(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes and wall.hour in self.hours and self.day_fires(wall.date())
        )

    def occurrences(self, tz: str, after: datetime, until: datetime) -> list[datetime]:
        """Fire instants in (after, until], walking UTC minute by minute."""
        zone = ZoneInfo(tz)
        fired: list[datetime] = []
        seen: set[datetime] = set()
        # From a few hours before: a wall time whose first pass came before ``after`` does not
        # fire again at its second.
        t = after.replace(second=0, microsecond=0) - timedelta(hours=4)
        previous = t.astimezone(zone).replace(tzinfo=None)
        while t < until:
            t += MINUTE
            wall = t.astimezone(zone).replace(tzinfo=None)
            skipped = previous + MINUTE
            gap_fires = False
            while skipped < wall:  # wall times the clock jumped over
                gap_fires = gap_fires or self.fires(skipped)
                skipped += MINUTE
            first_pass = wall not in seen and self.fires(wall)
            if t > after and (gap_fires or first_pass):
                fired.append(t)
            seen.add(wall)
            previous = max(previous, wall)
        return fired


def transitions(tz: str) -> list[datetime]:
    """UTC instants (to the hour) where the zone's offset changes, 2026-2028."""
    zone = ZoneInfo(tz)
    t = datetime(2026, 1, 1, tzinfo=UTC)
    found = []
    while t.year < 2029:
        if t.astimezone(zone).utcoffset() != (t + timedelta(hours=1)).astimezone(zone).utcoffset():
            found.append(t)
        t += timedelta(hours=1)
    return found or [datetime(2027, 1, 1, tzinfo=UTC)]


TRANSITIONS = {tz: transitions(tz) for tz in ZONES}

minute_f = st.sampled_from(["0", "30", "*/5", "*/15", "15,45", "0-50/10", "5,35", "59", "1,31"])
hour_f = st.one_of(
    st.sampled_from(["*", "0", "1", "2", "3", "1-3", "*/2", "0,12", "23", "22-23", "0-2"]),
    st.integers(0, 23).map(str),
)
month_f = st.sampled_from(["*", "*", "1-6", "MAR,NOV", "OCT-DEC", "APR", "9", "*/3"])
day_f = st.one_of(
    st.just(("*", "*")),
    st.sampled_from(["1", "1-7", "15,31", "*/2", "28-31"]).map(lambda d: (d, "*")),
    st.sampled_from(["SUN", "MON-FRI", "0,6", "SAT", "1-5", "7"]).map(lambda w: ("*", w)),
)
exprs = st.builds(
    lambda m, h, d, mon: f"{m} {h} {d[0]} {mon} {d[1]}", minute_f, hour_f, day_f, month_f
)


@st.composite
def starts(draw: st.DrawFn, tz: str) -> datetime:
    if draw(st.booleans()):
        near = draw(st.sampled_from(TRANSITIONS[tz]))
        return near - timedelta(minutes=draw(st.integers(0, 36 * 60)))
    day = draw(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1)))
    return day.replace(tzinfo=UTC, second=0, microsecond=0)


@pytest.mark.reliability(
    fault="DST transitions (gaps, repeats, half-hour shifts, midnight changes) for random expressions and zones",
    guarantee="occurrences equal an independent minute-by-minute oracle of SPEC §5's rule, both ways",
)
@settings(max_examples=120, deadline=None)
@given(data=st.data(), expr=exprs, tz=st.sampled_from(ZONES))
def test_the_engine_gives_exactly_the_oracles_occurrences(
    data: st.DataObject, expr: str, tz: str
) -> None:
    try:
        cron.validate(expr)
    except CronInvalid:
        assume(False)
    after = data.draw(starts(tz))
    until = after + timedelta(days=3)
    engine = list(itertools.takewhile(lambda o: o <= until, cron.iter_occurrences(expr, tz, after)))
    assert engine == Oracle(expr).occurrences(tz, after, until), (expr, tz, after)


def test_the_oracle_itself_knows_the_spring_forward_and_fall_back_rules() -> None:
    ny = "America/New_York"
    spring = Oracle("0,30 2 * * *").occurrences(
        ny, datetime(2027, 3, 14, 5, tzinfo=UTC), datetime(2027, 3, 14, 9, tzinfo=UTC)
    )
    assert spring == [datetime(2027, 3, 14, 7, tzinfo=UTC)]  # 03:00 EDT, once
    fall = Oracle("30 1 * * *").occurrences(
        ny, datetime(2027, 11, 7, 4, tzinfo=UTC), datetime(2027, 11, 7, 8, tzinfo=UTC)
    )
    assert fall == [datetime(2027, 11, 7, 5, 30, tzinfo=UTC)]  # 01:30 EDT, not 01:30 EST


CALENDAR = [date(2000, 1, 1) + timedelta(days=i) for i in range(366 * 4 + 365 * 4 + 1)]


def shortest_gap_by_walking(expr: str) -> int:
    """The smallest distance between two fires over eight years of wall-clock time."""
    oracle = Oracle(expr)
    day_minutes = sorted(h * 60 + m for h in oracle.hours for m in oracle.minutes)
    fires = [
        i * 1440 + minute
        for i, d in enumerate(CALENDAR)
        if oracle.day_fires(d)
        for minute in day_minutes
    ]
    return min((b - a for a, b in itertools.pairwise(fires)), default=10**9)


floor_minute = st.one_of(
    st.lists(st.integers(0, 59), min_size=1, max_size=4, unique=True).map(
        lambda ms: ",".join(map(str, sorted(ms)))
    ),
    st.sampled_from(["*/5", "*/4", "*/7", "0-59/6", "*"]),
)
floor_hour = st.one_of(
    st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True).map(
        lambda hs: ",".join(map(str, sorted(hs)))
    ),
    st.just("*"),
)


@settings(max_examples=150, deadline=None)
@given(m=floor_minute, h=floor_hour, d=day_f, mon=month_f)
def test_the_five_minute_floor_agrees_with_eight_years_of_fires(
    m: str, h: str, d: tuple[str, str], mon: str
) -> None:
    expr = f"{m} {h} {d[0]} {mon} {d[1]}"
    gap = shortest_gap_by_walking(expr)
    try:
        cron.validate(expr)
    except CronInvalid as exc:
        if "never fires" in str(exc):
            assume(False)
        assert "more often than every 5 minutes" in str(exc), (expr, exc)
        assert gap < 5, (expr, gap)
        return
    assert gap >= 5, (expr, gap)
