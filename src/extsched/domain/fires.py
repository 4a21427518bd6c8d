"""What a fire from an engine outside the database means (Temporal), pure.

Temporal evaluates the cron expression itself and fires at times of its choosing; extsched records
each fire by its own rules so that both backends produce the same records (SPEC §5, §7.2):

- a fire the cron engine does not expect for that wall time (Temporal's second pass over a local
  time that happens twice at a fall-back) is recorded ``skipped`` (``dst_duplicate``), unless the
  first pass was not fired at all (Temporal fires only the second in some zones): then it runs,
  for the wall time's occurrence, which is the first pass;
- occurrences Temporal did not fire (older than its catch-up window, or passed over by its
  catch-up after an outage) are recorded as one ``missed`` run with their count, as the embedded
  backend counts every occurrence it does not run; counted from the last thing known to have
  happened to the schedule (its last recorded occurrence, or a change to it, its install or its
  tenant);
- of those, the ones that fell while a run of the schedule was active (Temporal's overlap SKIP
  passes over fires while the fire before is still making its call) are ``skipped``
  (``overlap``) one by one, as the embedded backend records an occurrence that finds its
  schedule busy;
- a fire older than the schedule's newest recorded occurrence arrives late: that newer fire
  already counted it, so it records nothing;
- a fire that is itself stale (older than the window, or with a newer occurrence already due) is
  counted missed, so that only the newest occurrence within the window runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from extsched.domain.cron import next_occurrence
from extsched.domain.runs import DueOccurrence

MISSED_COUNT_CAP = 1000
_TICK = timedelta(microseconds=1)


# When a run of the schedule was active (queued or running): from, until (None: still is).
Span = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class FireJudgement:
    due: DueOccurrence  # what to record (run_for None: nothing runs)
    dst_duplicate: bool  # record the fire itself as skipped (dst_duplicate)
    overlapped: tuple[datetime, ...] = ()  # occurrences passed over while a run was active


def _active(spans: Sequence[Span], at: datetime) -> bool:
    return any(start <= at and (end is None or at < end) for start, end in spans)


def expected(cron: str, timezone: str, instant: datetime) -> bool:
    """Whether ``instant`` is an occurrence of the schedule by extsched's own cron engine."""
    return next_occurrence(cron, timezone, instant - _TICK) == instant


def first_pass(timezone: str, instant: datetime) -> datetime | None:
    """The first instant of ``instant``'s wall time when ``instant`` is its second pass (a
    fall-back repeat); None otherwise."""
    local = instant.astimezone(ZoneInfo(timezone))
    if local.fold == 0:
        return None
    first = local.replace(fold=0)
    return first.astimezone(UTC) if first.utcoffset() != local.utcoffset() else None


def judge(
    *,
    tenant_id: str,
    install_id: str,
    schedule_id: str,
    cron: str,
    timezone: str,
    fired_for: datetime,
    since: datetime,
    now: datetime,
    window: timedelta,
    last_recorded: datetime | None = None,
    busy: Sequence[Span] = (),
) -> FireJudgement:
    """``busy``: when runs of the schedule were active since ``since`` (needed only when the
    judgement without it has missed occurrences)."""
    if last_recorded is not None and fired_for < last_recorded:
        nothing = DueOccurrence(tenant_id, install_id, schedule_id, run_for=None)
        return FireJudgement(nothing, dst_duplicate=False)
    cutoff = now - window  # occurrences before this are too old to run
    missed: list[datetime] = []
    overlapped: list[datetime] = []
    capped = False
    t = next_occurrence(cron, timezone, since)
    while t < fired_for:
        if len(missed) + len(overlapped) >= MISSED_COUNT_CAP:
            capped = True
            break
        (overlapped if _active(busy, t) else missed).append(t)
        t = next_occurrence(cron, timezone, t)
    wanted = expected(cron, timezone, fired_for)
    run_for: datetime | None = fired_for if wanted else None
    stand_in = None if wanted else first_pass(timezone, fired_for)
    if stand_in is not None and stand_in > since and expected(cron, timezone, stand_in):
        # Temporal fired only the second pass over a wall time that happens twice (as it does
        # in some zones): that fire stands for the wall time's occurrence, which is the first.
        run_for, wanted = stand_in, True
        for passed in (missed, overlapped):
            if stand_in in passed:
                passed.remove(stand_in)
    elif run_for is not None and run_for < cutoff:
        missed.append(run_for)  # too old to run
        run_for = None
    if run_for is not None and next_occurrence(cron, timezone, run_for) <= now:
        missed.append(run_for)  # stale: a newer occurrence is due already
        run_for = None
    due = DueOccurrence(
        tenant_id=tenant_id,
        install_id=install_id,
        schedule_id=schedule_id,
        run_for=run_for,
        missed_first=missed[0] if missed else None,
        missed_last=missed[-1] if len(missed) > 1 and not capped else None,
        missed_count=len(missed),
        missed_capped=capped,
    )
    return FireJudgement(due, dst_duplicate=not wanted, overlapped=tuple(overlapped))
