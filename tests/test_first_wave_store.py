"""A store written before typed events still opens, verifies, replays and resumes.

``tests/fixtures/first_wave.db`` was written by the engine as it stood at the end
of issue 7 (see ``tests/fixtures/first_wave.py``, which holds its workflows): runs
succeeded, failed, cancelled, paused, waiting (on input with a schema, an
approval, for-each iterations, after a withdrawn suspension), a long run with a
snapshot, a large result stored apart, and one left running by a dead holder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.fixtures.first_wave import RUNS, register

FIXTURE = Path(__file__).with_name("fixtures") / "first_wave.db"


async def test_a_first_wave_store_opens_verifies_replays_and_resumes(
    tmp_path: Path, open_engine: Any
) -> None:
    db = tmp_path / "first_wave.db"
    shutil.copy(FIXTURE, db)
    engine = await open_engine(f"sqlite:///{db}", register)
    for run_id in RUNS:
        assert await engine.verify(run_id), run_id
        assert (await engine.check_replay(run_id)).ok, run_id

    statuses = {r.run_id: r.status for r in (await engine.list_runs(per_page=100)).runs}
    assert statuses == {
        "done": "succeeded", "waiting": "suspended", "paused": "paused",
        "cancelled": "cancelled", "failed": "failed", "withdrawn": "suspended",
        "each": "suspended", "approval": "suspended", "stranded": "running",
        "long": "suspended",
    }
    waiting = await engine.list_suspended_runs()
    assert sorted(r.run_id for r in waiting.runs) == [
        "approval", "each", "long", "paused", "waiting", "withdrawn"]
    done = await engine.get_run("done")
    assert done.output["n"] == 7 and done.output["state"]["a"] == 20_000
    assert "ConnectionError" in ((await engine.get_run("failed")).error or "")
    assert (await engine.get_run("cancelled")).error == "changed my mind"

    # every waiting run resumes under today's engine, and finishes
    assert (await engine.resume_run("waiting", {"ok": True, "note": "n"}, None)).output == {
        "price": 30, "ok": True, "note": "n"}
    assert (await engine.resume_run("paused", "yes", "ask")).output == ["yes", ["w0", "w1"]]
    assert (await engine.resume_run("withdrawn", "sure", None)).output == {
        "winner": "quick", "then": "sure"}
    await engine.resume_run("each", "zero", ("each", 0, "ok"))
    each = await engine.resume_run("each", "two", "each.2.ok")
    assert each.output == [[2, "zero"], [4, "first"], [6, "two"]]
    assert (await engine.approve("approval")).output == "paid"
    assert (await engine.resume_run("long", "end", None)).output == {"total": 595, "then": "end"}
    assert await engine.recover() == ["stranded"]
    stranded = await engine.wait("stranded", timeout=10)
    assert stranded.status == "succeeded" and stranded.output == {
        "price": 50, "ok": True, "note": "fine"}
    for run_id in RUNS:
        assert await engine.verify(run_id), run_id
