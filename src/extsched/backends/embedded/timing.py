"""When the embedded backend fires: jitter and the catch-up rule, pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from extsched.domain.cron import next_occurrence
from extsched.domain.invocation import iso_z

# Counting missed occurrences stops here; the missed record then says "more than N".
MISSED_COUNT_CAP = 1000


def jitter_offset(schedule_id: str, occurrence: datetime, jitter_seconds: int) -> timedelta:
    """A stable offset in [0, jitter): the same on every process, and below the 5-minute minimum
    interval, so the fire times of one schedule stay in order."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule_id}:{iso_z(occurrence)}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:4], "big") % jitter_seconds)


@dataclass(frozen=True)
class Plan:
    run_for: datetime | None
    missed_first: datetime | None
    missed_last: datetime | None
    missed_count: int
    missed_capped: bool
    next_for: datetime
    next_fire_at: datetime
    last_fired_for: datetime


def plan(
    *,
    schedule_id: str,
    cron: str,
    timezone: str,
    jitter_seconds: int,
    first_due: datetime,
    now: datetime,
    window: timedelta,
) -> Plan:
    """What to do for a schedule whose occurrence ``first_due`` has come (its fire time <= now).

    Every occurrence whose fire time has come is accounted for exactly once: the newest one still
    inside the catch-up window runs, all others are counted as missed.
    """

    def fire_at(t: datetime) -> datetime:
        return t + jitter_offset(schedule_id, t, jitter_seconds)

    cutoff = now - window  # fire times before this are too old to run
    due_in_window: list[datetime] = []
    missed_first = missed_last = None
    missed_count = 0
    capped = False
    t = first_due
    if fire_at(t) < cutoff:
        # Downtime: count what was missed up to a cap, then jump to the window directly.
        missed_first = t
        while fire_at(t) < cutoff:
            missed_count += 1
            missed_last = t
            if missed_count >= MISSED_COUNT_CAP:
                capped, missed_last = True, None
                t = next_occurrence(cron, timezone, cutoff - timedelta(seconds=jitter_seconds))
                while fire_at(t) < cutoff:
                    t = next_occurrence(cron, timezone, t)
                break
            t = next_occurrence(cron, timezone, t)
    while fire_at(t) <= now:
        due_in_window.append(t)
        t = next_occurrence(cron, timezone, t)
    nxt = t
    run_for = due_in_window[-1] if due_in_window else None
    extra_missed = due_in_window[:-1]
    if extra_missed:
        missed_first = missed_first or extra_missed[0]
        missed_last = extra_missed[-1]
        missed_count += len(extra_missed)
    last_fired = run_for or missed_last or first_due
    return Plan(
        run_for=run_for,
        missed_first=missed_first,
        missed_last=missed_last if missed_count > 1 else None,
        missed_count=missed_count,
        missed_capped=capped,
        next_for=nxt,
        next_fire_at=fire_at(nxt),
        last_fired_for=last_fired,
    )
