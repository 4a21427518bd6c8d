"""Background loops: failures logged without flooding, a loop that dies restarted and reported."""

from __future__ import annotations

import asyncio
import logging

import pytest

from extsched.loops import Failures, Supervisor
from extsched.metrics import Metrics


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_logs_one_traceback_then_a_summary_a_minute_then_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    failures = Failures(logging.getLogger("t"), "dispatch pass", monotonic=ticks)
    with caplog.at_level(logging.INFO, logger="t"):
        for second in range(150):  # a pass a second for two and a half minutes
            ticks.now = float(second)
            failures.failed(ConnectionError("database unreachable"))
        failures.succeeded()
        failures.succeeded()
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert lines == [
        ("ERROR", "dispatch pass failed", True),
        (
            "ERROR",
            "dispatch pass still failing: 61 failures in a row; latest: "
            "ConnectionError: database unreachable",
            False,
        ),
        (
            "ERROR",
            "dispatch pass still failing: 121 failures in a row; latest: "
            "ConnectionError: database unreachable",
            False,
        ),
        ("WARNING", "dispatch pass works again after 150 failures", False),
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="t"):
        failures.failed(ConnectionError("again"))
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        ("dispatch pass failed", True)
    ]


async def test_a_loop_that_dies_is_reported_down_restarted_and_counted() -> None:
    metrics = Metrics()
    loops = Supervisor(metrics, first_delay=0.05)
    starts = 0
    restarted = asyncio.Event()
    stop = asyncio.Event()

    async def flaky() -> None:
        nonlocal starts
        starts += 1
        if starts == 1:
            raise RuntimeError("a bug outside the pass's own guard")
        restarted.set()
        await stop.wait()

    task = loops.start("dispatcher", flaky)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert loops.down == {"dispatcher": "RuntimeError: a bug outside the pass's own guard"}
    await asyncio.wait_for(restarted.wait(), 5)
    assert loops.down == {}
    assert starts == 2
    assert (
        metrics.registry.get_sample_value("extsched_loop_restarts_total", {"loop": "dispatcher"})
        == 1.0
    )
    stop.set()
    await task  # a loop that returns is done: not restarted
    assert starts == 2


async def test_stopping_the_supervisor_cancels_its_loops() -> None:
    loops = Supervisor()
    forever = asyncio.Event()
    task = loops.start("sync", forever.wait)
    await loops.stop()
    assert task.cancelled() and loops.tasks == {}
