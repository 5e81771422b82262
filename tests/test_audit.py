"""engine.audit, engine.seal and engine.redact: what each check catches, on SQLite and
PostgreSQL, with the tables edited behind the engine's back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import durable
from tests.raw_db import RawDB

SECRET = "4111-1111-1111-1111"  # the personal data an erasure request names


def register(engine: durable.Engine) -> None:
    @engine.workflow("pay")
    async def pay(ctx: durable.Context, order: dict[str, Any]) -> dict[str, Any]:
        a = await ctx.step("quote", lambda: {"amount": order["amount"]})
        b = await ctx.step("charge", lambda: {"card": order["card"], "charged": a["amount"]})
        c = await ctx.step("receipt", lambda: {"text": "x" * 40_000 + order["card"]})
        ctx.set_state({"card": order["card"]})
        answer = await ctx.suspend("confirm", {"card": order["card"]})
        return {"card": order["card"], "b": b, "answer": answer, "receipt": len(c["text"])}


async def finished(engine: durable.Engine, card: str = SECRET) -> str:
    run = await engine.create_run("pay")
    await run.start({"amount": 5, "card": card})
    result = await run.resume({"confirmed_with": card})
    assert result.status == "succeeded"
    return run.run_id


async def test_audit_names_the_first_altered_position(shared_url: str, open_engine: Any
                                                      ) -> None:
    engine = await open_engine(shared_url, register)
    run_id = await finished(engine)
    db = RawDB(shared_url)
    ok = await engine.audit(run_id)
    assert ok.ok and ok.first_bad is None and ok.length == 8 and ok.head_hash

    body = db.envelope(run_id, 3)  # the charge: rewrite history, we charged a million
    original = dict(body)
    body["data"] = {**body["data"], "result": {"card": SECRET, "charged": 1_000_000}}
    db.set_envelope(run_id, 3, body)
    report = await engine.audit(run_id)
    assert not report.ok and report.first_bad == 3 and "altered" in (report.reason or "")
    assert not await engine.verify(run_id)
    db.set_envelope(run_id, 3, original)
    assert (await engine.audit(run_id)).ok


async def test_audit_names_a_deleted_and_a_swapped_event(shared_url: str, open_engine: Any
                                                         ) -> None:
    engine = await open_engine(shared_url, register)
    deleted, swapped = await finished(engine), await finished(engine)
    db = RawDB(shared_url)
    db.execute("DELETE FROM {events} WHERE originator_id = ? AND originator_version = 4",
               (deleted,))
    report = await engine.audit(deleted)
    assert (report.ok, report.first_bad) == (False, 4) and "missing" in (report.reason or "")

    # Swap the states of events 2 and 3 (two step results): each row keeps its position.
    two, three = db.envelope(swapped, 2), db.envelope(swapped, 3)
    db.set_envelope(swapped, 2, three)
    db.set_envelope(swapped, 3, two)
    report = await engine.audit(swapped)
    assert (report.ok, report.first_bad) == (False, 2), report


async def test_a_seal_catches_a_tail_deleted_with_its_head(shared_url: str, open_engine: Any,
                                                          tmp_path: Path) -> None:
    engine = await open_engine(shared_url, register)
    run_id = await finished(engine)
    later = await finished(engine)
    seal = await engine.seal()
    kept = tmp_path / "seal.json"
    kept.write_text(seal.to_json())
    assert set(seal.runs) >= {run_id, later}

    # Cut the last two events (the resume and the success), and rewrite the head row to
    # match: the chain that is left is whole, so the run alone looks fine.
    db = RawDB(shared_url)
    db.execute("DELETE FROM {events} WHERE originator_id = ? AND originator_version > 6",
               (run_id,))
    db.execute("UPDATE {runs} SET position = 6, status = 'suspended' WHERE run_id = ?",
               (run_id,))
    alone = await engine.audit(run_id)
    assert alone.ok and alone.length == 6  # what a chain cannot see ...

    against = durable.Seal.from_json(kept.read_text())
    report = await engine.audit(run_id, against=against)
    assert (report.ok, report.first_bad) == (False, 7)  # ... the seal does
    assert "cut short" in (report.reason or "")
    assert (await engine.audit(later, against=against)).ok
    run = await engine.create_run("pay")  # a run begun after the seal: nothing to compare
    await run.start({"amount": 1, "card": "c"})
    assert (await engine.audit(run.run_id, against=against)).ok


def test_a_signed_seal_refuses_a_forgery(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from durable.seal import SealedRun

    monkeypatch.setenv("DURABLE_AUDIT_KEY", "k1")
    seal = durable.Seal.make(datetime.now(UTC), {"r": SealedRun(3, "ab")})
    assert seal.signature and durable.Seal.from_json(seal.to_json()).runs == seal.runs
    forged = seal.to_json().replace('"r":[3,', '"r":[2,')
    with pytest.raises(ValueError, match="altered"):
        durable.Seal.from_json(forged)
    monkeypatch.setenv("DURABLE_AUDIT_KEY", "k2")
    with pytest.raises(ValueError, match="signature"):
        durable.Seal.from_json(seal.to_json())
    monkeypatch.delenv("DURABLE_AUDIT_KEY")
    with pytest.raises(ValueError, match="set DURABLE_AUDIT_KEY"):
        durable.Seal.from_json(seal.to_json())
    plain = durable.Seal.make(datetime.now(UTC), {"r": SealedRun(3, "ab")})
    monkeypatch.setenv("DURABLE_AUDIT_KEY", "k1")
    with pytest.raises(ValueError, match="not signed"):
        durable.Seal.from_json(plain.to_json())


async def test_redact_erases_payloads_everywhere_and_keeps_the_chain(
        shared_url: str, open_engine: Any) -> None:
    engine = await open_engine(shared_url, register, snapshot_every=3)
    run_id = await finished(engine)
    keep = await finished(engine, card="5500-0000-0000-0004")  # another person's run
    await engine.flush()  # its snapshots are written
    db = RawDB(shared_url)
    assert any(SECRET in v for v in db.all_text())

    info = await engine.redact(run_id, reason="erasure request 17")
    assert info.status == "succeeded" and info.output == {"redacted": "erasure request 17"}
    assert not [v for v in db.all_text() if SECRET in v]  # from every table
    report = await engine.audit(run_id)
    assert report.ok and report.redacted > 0
    history = await engine.history(run_id)
    assert history[0].data["input"] == {"redacted": "erasure request 17"}
    assert history[1].data["result"] == {"redacted": "erasure request 17"}
    assert [e.type for e in history][-1] == "succeeded"
    listed = {r.run_id: r for r in (await engine.list_runs()).runs}
    assert listed[run_id].output == {"redacted": "erasure request 17"}
    assert listed[keep].output["card"] == "5500-0000-0000-0004"
    assert await engine.verify(keep)
    if shared_url.startswith("sqlite:///"):  # not in the file's free pages or WAL either
        path = Path(shared_url.removeprefix("sqlite:///"))
        for f in (path, path.with_name(path.name + "-wal")):
            if f.exists():
                assert SECRET.encode() not in f.read_bytes(), f


async def test_redact_refuses_a_run_that_has_not_ended(store_url: str, open_engine: Any
                                                       ) -> None:
    engine = await open_engine(store_url, register)
    run = await engine.create_run("pay")
    await run.start({"amount": 5, "card": SECRET})
    before = await engine.history(run.run_id)
    with pytest.raises(ValueError, match="only a finished run"):
        await engine.redact(run.run_id, reason="too early")
    with pytest.raises(ValueError, match="needs a reason"):
        await engine.redact(run.run_id, reason=" ")
    assert await engine.history(run.run_id) == before


async def test_a_shared_large_result_outlives_one_runs_redaction(
        shared_url: str, open_engine: Any) -> None:
    engine = await open_engine(shared_url, register)
    first, second = await finished(engine), await finished(engine)  # same card: same receipt
    await engine.redact(first, reason="r")
    assert await engine.verify(second)  # its receipt, stored once for both, is still there
    assert (await engine.history(second))[3].data["result"]["text"].endswith(SECRET)
