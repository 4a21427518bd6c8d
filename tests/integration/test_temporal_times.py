"""What Temporal fires, against extsched's cron engine, on a real dev server.

On ordinary dates Temporal's next fire times are the engine's occurrences. On DST transition
dates they differ, and recording Temporal's fires through ``domain.fires`` (as the Temporal
backend does) gives the engine's runs, with one difference left: Temporal never fires a wall
time that does not exist (spring forward), so that occurrence is recorded missed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
)

from extsched.backends.temporal.dev_server import DevServer
from extsched.domain.cron import occurrences
from extsched.domain.fires import judge

pytestmark = pytest.mark.temporal

ORDINARY = [
    ("0 9 * * 1-5", "Europe/Paris", datetime(2027, 5, 3, tzinfo=UTC)),
    ("*/15 * * * *", "Asia/Kolkata", datetime(2027, 6, 1, tzinfo=UTC)),
    ("30 18 1,15 * *", "America/Los_Angeles", datetime(2027, 1, 10, tzinfo=UTC)),
    ("0 0 * * SUN", "Australia/Sydney", datetime(2027, 8, 1, tzinfo=UTC)),
    ("45 23 * 2 *", "UTC", datetime(2027, 2, 20, tzinfo=UTC)),
    ("5 4 * * *", "US/Eastern", datetime(2027, 7, 4, tzinfo=UTC)),
]
TRANSITIONS = [
    # spring forward: 02:30 does not exist that night
    ("30 2 * * *", "America/New_York", datetime(2027, 3, 12, tzinfo=UTC), 1),
    ("0 2 * * *", "Europe/Paris", datetime(2027, 3, 26, tzinfo=UTC), 1),
    # fall back: 01:30 (New York) and 02:30 (Paris) happen twice
    ("30 1 * * *", "America/New_York", datetime(2027, 11, 5, tzinfo=UTC), 0),
    ("*/30 1 * * *", "America/New_York", datetime(2027, 11, 6, tzinfo=UTC), 0),
    ("30 2 * * *", "Europe/Paris", datetime(2027, 10, 29, tzinfo=UTC), 0),
]


async def temporal_fires(client: Client, cron: str, tz: str, start: datetime) -> list[datetime]:
    sid = f"times-{uuid.uuid4().hex[:8]}"
    handle = await client.create_schedule(
        sid,
        Schedule(
            action=ScheduleActionStartWorkflow("extsched.fire", id=sid, task_queue="unpolled"),
            spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=tz, start_at=start),
            state=ScheduleState(paused=False),
        ),
    )
    try:
        return list((await handle.describe()).info.next_action_times[:6])
    finally:
        await handle.delete()


@pytest.mark.parametrize(("cron", "tz", "start"), ORDINARY)
async def test_on_ordinary_dates_temporal_fires_the_engines_occurrences(
    temporal_server: DevServer, cron: str, tz: str, start: datetime
) -> None:
    client = await Client.connect(temporal_server.address)
    # Temporal's start is inclusive, the engine's "after" is not.
    expected = occurrences(cron, tz, start - timedelta(microseconds=1), 6)
    assert await temporal_fires(client, cron, tz, start) == expected


@pytest.mark.parametrize(("cron", "tz", "start", "unfired"), TRANSITIONS)
async def test_on_dst_dates_recording_temporals_fires_gives_the_engines_runs(
    temporal_server: DevServer, cron: str, tz: str, start: datetime, unfired: int
) -> None:
    client = await Client.connect(temporal_server.address)
    fires = await temporal_fires(client, cron, tz, start)
    since, ran, missed, duplicates = start, [], [], 0
    for at in fires:
        judged = judge(
            tenant_id="t",
            install_id="i",
            schedule_id="s",
            cron=cron,
            timezone=tz,
            fired_for=at,
            since=since,
            now=at + timedelta(seconds=1),
            window=timedelta(minutes=10),
        )
        due = judged.due
        duplicates += judged.dst_duplicate
        if due.missed_first is not None:
            missed.append((due.missed_first, due.missed_count))
        if due.run_for is not None:
            ran.append(due.run_for)
        since = max(since, at, due.run_for or since)
    engine = [t for t in occurrences(cron, tz, start, 8) if t <= fires[-1]]
    never_fired = [t for t in engine if t not in ran]
    assert len(never_fired) == unfired
    assert [m for m, _ in missed] == never_fired  # recorded missed, not lost
    assert sorted(ran + never_fired) == engine  # every occurrence once, none twice
    assert len(set(ran)) == len(ran)
