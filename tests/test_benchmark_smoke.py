"""Short variants of the long benchmarks: each still runs and measures what it says.

The real runs live in ``benchmarks/`` (minutes each); these take seconds and check
the figures' shape and sense, never their size (no timing is asserted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_composition_fires_every_timer_and_finishes_each_for_each() -> None:
    out = _run("benchmarks.composition", "--timers", "150", "--items", "20", "60",
               "--repeats", "1", "--no-write")
    assert "150 timers due at once, hot" in out and "150 timers due at once, cold" in out
    assert "for-each of 20:" in out and "for-each of 60:" in out


def test_workers_runs_its_phases_on_postgres(postgres_url: str) -> None:
    """(postgres_url: skips, or fails under CI, as every PostgreSQL test does.)"""
    out = _run("benchmarks.workers", "--workers", "1", "2", "--io-runs", "12",
               "--trivial-runs", "12", "--samples", "3", "--no-write")
    assert "1 worker(s): io" in out and "2 worker(s): io" in out
    assert "raw inserts/s" in out and "claim latency" in out


def test_pages_counts_frames_for_the_engine_and_the_floor() -> None:
    figures = json.loads(_run("benchmarks.pages", "--runs", "5", "--json"))
    engine, floor = figures["engine"], figures["floor"]
    assert engine["appends"] == 5 * 12 and floor["appends"] == 5 * 12
    # an append writes at least its event's page and its index entry; the floor, one row
    assert 2.0 <= engine["frames_per_append"] < 10 and 1.0 <= floor["frames_per_append"] < 2


def test_http_load_loses_and_duplicates_no_resume_on_sqlite() -> None:
    out = _run("benchmarks.http", "--store", "sqlite", "--seconds", "3", "--clients", "5",
               "--no-write")
    figures = json.loads(out.split("sqlite ", 1)[1].splitlines()[0])
    assert figures["runs"] > 0 and figures["requests"] >= 2 * figures["runs"] - 5
    assert (figures["lost_resumes"], figures["duplicated_resumes"], figures["runs_wrong"],
            figures["error_count"]) == (0, 0, 0, 0)
    assert figures["retries_skipped"] > 0 and figures["server_exit"] == 0


def test_replay_check_checks_every_stored_history_both_ways() -> None:
    out = _run("benchmarks.replay_check", "--runs", "40", "--steps", "5", "--repeats", "1",
               "--no-write")
    assert "batched    40 histories of 5 steps" in out
    assert "one_by_one 40 histories of 5 steps" in out and "target 1,000/s" in out


def test_travel_measures_state_at_fork_and_verify_all() -> None:
    out = _run("benchmarks.travel", "--sizes", "300", "--samples", "5", "--runs", "20",
               "--run-events", "12", "--replay-runs", "10", "--no-write")
    figures = json.loads(out.strip().splitlines()[-1])
    (size,) = figures["sizes"]
    assert size["events"] == 300 and size["state_at"]["p50_ms"] > 0
    assert size["fork"]["p50_ms"] > 0 and size["audit_events_per_s"] > 0
    assert figures["verify_all"]["runs"] == 20 and figures["verify_all"]["events"] == 240
    assert figures["replay_check"]["histories_per_s"] > 0
