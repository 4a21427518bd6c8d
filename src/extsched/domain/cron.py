"""Cron policy and occurrences (SPEC §5, §7.2): pure, clock-free, DST-exact.

Validation parses the five fields itself so every rule has a stable message and so the minimum
interval can be judged on the expression's time-of-day pattern, independent of any date.
Occurrences come from cronsim walking wall-clock time, placed in the schedule's zone by the
product's DST rules: a wall time inside a spring-forward gap fires once at the first instant after
the gap, and a wall time that happens twice at fall-back fires once, at the first.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

MAX_LENGTH = 128
_MINUTE = timedelta(minutes=1)
MIN_INTERVAL_MINUTES = 5
MINUTES_PER_DAY = 24 * 60

MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
DAY_NAMES = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
DAYS_IN_MONTH = {
    1: 31,
    2: 29,
    3: 31,
    4: 30,
    5: 31,
    6: 30,
    7: 31,
    8: 31,
    9: 30,
    10: 31,
    11: 30,
    12: 31,
}


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int]


FIELDS = (
    _FieldSpec("minute", 0, 59, {}),
    _FieldSpec("hour", 0, 23, {}),
    _FieldSpec("day-of-month", 1, 31, {}),
    _FieldSpec("month", 1, 12, MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 7, DAY_NAMES),
)

_TOKEN = re.compile(r"^[0-9A-Za-z*,/-]+$")
_ATOMS = re.compile(r"[\s,/-]+")
_SPECIAL_ATOM = re.compile(r"^(?:\d*[LW]|LW)$")  # L, W, 5L, 15W, LW; not names like JUL or WED


class CronInvalid(ValueError):
    """The expression breaks a rule; ``str()`` is the stable, user-facing message."""


@dataclass(frozen=True)
class ParsedCron:
    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday; 7 folded into 0
    dom_restricted: bool
    dow_restricted: bool


def _value(raw: str, spec: _FieldSpec) -> int:
    upper = raw.upper()
    if upper in spec.names:
        return spec.names[upper]
    if not raw.isdigit():
        raise CronInvalid(f"{spec.name}: '{raw}' is not a number or a name")
    value = int(raw)
    if not spec.low <= value <= spec.high:
        raise CronInvalid(f"{spec.name}: {value} is out of range {spec.low}-{spec.high}")
    return value


def _parse_field(raw: str, spec: _FieldSpec) -> frozenset[int]:
    values: set[int] = set()
    for part in raw.split(","):
        if not part:
            raise CronInvalid(f"{spec.name}: empty list element")
        base, slash, step_raw = part.partition("/")
        step = 1
        if slash:
            if not step_raw.isdigit() or int(step_raw) == 0:
                raise CronInvalid(f"{spec.name}: step must be a positive number")
            step = int(step_raw)
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _value(first, spec), _value(last, spec)
            if low > high:
                raise CronInvalid(f"{spec.name}: range {base} goes backwards")
        else:
            low = _value(base, spec)
            high = spec.high if slash else low
        if step > spec.high - spec.low + 1 and slash:
            raise CronInvalid(f"{spec.name}: step {step} is larger than the field's range")
        values.update(range(low, high + 1, step))
    return frozenset(values)


def parse(expr: Any) -> ParsedCron:
    """Check every rule except the minimum interval; raise CronInvalid naming the first broken."""
    if not isinstance(expr, str) or not expr.strip():
        raise CronInvalid("cron is required")
    if len(expr) > MAX_LENGTH:
        raise CronInvalid(f"cron must be at most {MAX_LENGTH} characters")
    text = expr.strip()
    if text.startswith("@"):
        raise CronInvalid("macros such as @daily are not supported; write the 5 fields")
    parts = text.split()
    if (
        "#" in text
        or "?" in text
        or any(_SPECIAL_ATOM.match(a) for a in _ATOMS.split(text.upper()))
    ):
        raise CronInvalid("the special characters L, W, # and ? are not supported")
    if len(parts) != 5:
        raise CronInvalid(
            "cron must have exactly 5 fields: minute hour day-of-month month day-of-week "
            "(seconds and year fields are not supported)"
        )
    for part, spec in zip(parts, FIELDS, strict=True):
        if not _TOKEN.match(part):
            raise CronInvalid(f"{spec.name}: '{part}' contains characters that are not allowed")
    sets = [_parse_field(p, s) for p, s in zip(parts, FIELDS, strict=True)]
    dom_restricted, dow_restricted = parts[2] != "*", parts[4] != "*"
    if dom_restricted and dow_restricted:
        raise CronInvalid(
            "set day-of-month or day-of-week, not both (cron would fire when either matches)"
        )
    weekdays = frozenset(d % 7 for d in sets[4])
    parsed = ParsedCron(
        expr=" ".join(parts),
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        dom_restricted=dom_restricted,
        dow_restricted=dow_restricted,
    )
    if dom_restricted and all(d > DAYS_IN_MONTH[m] for d in parsed.days for m in parsed.months):
        raise CronInvalid("cron never fires: no selected month has the selected day")
    return parsed


def fires_on_consecutive_days(p: ParsedCron) -> bool:
    """Whether two calendar days in a row can both fire (then the gap across midnight counts)."""
    if p.dow_restricted:
        # Every month holds every pair of neighbouring weekdays, Saturday-Sunday included.
        return any((d + 1) % 7 in p.weekdays for d in p.weekdays)
    if not p.dom_restricted:
        return True
    longest = max(DAYS_IN_MONTH[m] for m in p.months)
    if any(d + 1 in p.days and d + 1 <= longest for d in p.days):
        return True
    # Across a month's end: its last day (28 or 29 for February) fires, and the 1st of the next.
    if 1 not in p.days:
        return False
    for m in p.months:
        following = m % 12 + 1
        last_days = {28, 29} if m == 2 else {DAYS_IN_MONTH[m]}
        if following in p.months and last_days & p.days:
            return True
    return False


def shortest_gap_minutes(p: ParsedCron) -> int | None:
    """The smallest distance between two fires judged on the time-of-day pattern (None: once a day)."""
    times = sorted(h * 60 + m for h in p.hours for m in p.minutes)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if fires_on_consecutive_days(p):
        gaps.append(times[0] + MINUTES_PER_DAY - times[-1])
    return min(gaps) if gaps else None


def validate(expr: Any) -> ParsedCron:
    """Every cron rule of SPEC §5; raises CronInvalid with the rule's message."""
    if not isinstance(expr, str):
        raise CronInvalid("cron is required")
    return _validate_text(expr)


@lru_cache(maxsize=1024)  # pure, and tenants reuse a handful of expressions
def _validate_text(expr: str) -> ParsedCron:
    parsed = parse(expr)
    gap = shortest_gap_minutes(parsed)
    if gap is not None and gap < MIN_INTERVAL_MINUTES:
        raise CronInvalid(
            f"cron fires more often than every {MIN_INTERVAL_MINUTES} minutes "
            f"(two fires can be {gap} minute{'s' if gap != 1 else ''} apart)"
        )
    try:
        CronSim(parsed.expr, datetime(2000, 1, 1))
    except CronSimError as exc:  # a rule this module missed must still not let a bad schedule in
        raise CronInvalid(f"cron is not valid: {exc}") from exc
    return parsed


@lru_cache(maxsize=1024)
def describe(expr: str) -> str:
    """A human description such as 'At 09:00 on Monday through Friday'."""
    try:
        text: str = CronSim(expr, datetime(2000, 1, 1)).explain()
    except (CronSimError, ValueError, KeyError):
        return expr
    return text


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """When a wall time (naive) happens in ``zone``, by SPEC §5's DST rule: at its first pass
    when it happens twice, and at the first instant after the gap when it does not happen."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: the clock jumped at a whole minute between the two readings of the wall time;
    # find the first minute whose wall time is past it.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(other, first), max(other, first)
    while high - low > _MINUTE:
        mid = low + (high - low) // _MINUTE // 2 * _MINUTE
        if mid.astimezone(zone).replace(tzinfo=None) > wall:
            high = mid
        else:
            low = mid
    return high


def iter_occurrences(expr: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Instants (aware, UTC) strictly after ``after`` at which the schedule is due, in order.

    The expression is walked in wall-clock time, so a wall time inside a spring-forward gap is
    still seen (and fires at the first instant after the gap, several of them once), and a wall
    time repeated by a fall-back is seen once (and fires at its first pass). Zones whose clocks
    move by half an hour, or at midnight, follow the same rule."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = ZoneInfo(timezone)
    after_utc = after.astimezone(UTC)
    # cronsim yields wall times strictly after its start; a wall time after ``after``'s own can
    # still be an instant before it (during a fall-back's second pass), hence the check below.
    start = after_utc.replace(second=0, microsecond=0).astimezone(zone).replace(tzinfo=None)
    last: datetime | None = None
    for wall in CronSim(expr, start):
        instant = _instant(wall, zone)
        if instant <= after_utc or (last is not None and instant <= last):
            continue
        last = instant
        yield instant


def occurrences(expr: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    it = iter_occurrences(expr, timezone, after)
    return [next(it) for _ in range(count)]


def next_occurrence(expr: str, timezone: str, after: datetime) -> datetime:
    """The first occurrence after ``after``. Occurrences fall on whole minutes, so it is the
    first after the start of ``after``'s minute: cached by that minute, as schedules created or
    fired within one share their expression, zone and answer."""
    return _next_after_minute(
        expr, timezone, after.astimezone(UTC).replace(second=0, microsecond=0)
    )


@lru_cache(maxsize=4096)
def _next_after_minute(expr: str, timezone: str, minute: datetime) -> datetime:
    return next(iter_occurrences(expr, timezone, minute))
