"""The chaos harness, short: worker processes killed with ``kill -9`` at random moments,
then the database server restarted as a crash would, under load; every run settles
as its steps and event add up, no acknowledged append is lost, no completed step
runs again, every chain verifies, and the listings equal the fold.
(``python -m benchmarks.chaos`` is the long run: 50 runs, 200 kills.)"""

from __future__ import annotations

import pytest

from benchmarks import chaos
from benchmarks.pg_instance import unavailable_reason
from tests.conftest import IN_CI

pytestmark = pytest.mark.slow


async def test_kills_and_a_server_crash_lose_duplicate_and_strand_nothing() -> None:
    reason = unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"the chaos test must run under CI=true: {reason}")
        pytest.skip(reason)
    figures = await chaos.run(chaos.Settings(
        runs=10, workers=3, kills=20, steps=12, late_runs=3, settle=120, seed=7))
    assert figures["violations"] == []
    assert figures["runs"] == 10 and figures["kills"] == 20
    assert figures["steps_recorded"] == 10 * 12  # every run did all its steps, once each
    assert figures["runs_in_flight_at_restart"] > 0  # the server restarted under load
