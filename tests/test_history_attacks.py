"""What a review attacked in audit, redaction, forks and import, kept as tests: each is
something that once got through, and must not again."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import msgspec
import pytest

import durable
from durable.codec import canonical
from durable.fold import RunSnapshot, fold
from tests.raw_db import RawDB
from tests.test_audit import SECRET, finished, register


async def test_a_forged_erasure_mark_does_not_hide_an_edit(shared_url: str, open_engine: Any
                                                           ) -> None:
    """Data written under a kept payload hash (as if redacted) is caught, seal or not."""
    engine = await open_engine(shared_url, register)
    run_id = await finished(engine)
    seal = await engine.seal()
    db = RawDB(shared_url)
    body = db.envelope(run_id, 3)  # the charge
    body["data_hash"] = hashlib.sha256(msgspec.msgpack.encode(body["data"])).hexdigest()
    body["data"] = {**body["data"], "result": {"card": SECRET, "charged": 1_000_000}}
    db.set_envelope(run_id, 3, body)
    for report in (await engine.audit(run_id), await engine.audit(run_id, against=seal)):
        assert (report.ok, report.first_bad) == (False, 3)
        assert "marked as erased but holds data" in (report.reason or "")
    exported = await engine.export_run(run_id)
    other = await open_engine("memory://", register)
    with pytest.raises(ValueError, match="erased"):
        await other.import_run(exported)


async def test_a_forks_id_cannot_be_taken_by_an_import_or_a_start(store_url: str,
                                                                  open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    fork = await engine.fork(await finished(engine), at=6)
    other = await open_engine("memory://", register)
    impostor = await other.create_run("pay", run_id=fork.run_id)
    await impostor.start({"amount": 1, "card": "someone else"})
    with pytest.raises(ValueError, match="exists"):
        await engine.import_run(await other.export_run(fork.run_id))
    with pytest.raises(durable.RunAlreadyStarted):
        await (await engine.create_run("pay", run_id=fork.run_id)).start({"amount": 2})
    assert (await engine.audit(fork.run_id)).ok
    assert (await engine.get_run(fork.run_id)).status == "suspended"


async def test_a_forks_log_is_bound_to_its_id(shared_url: str, open_engine: Any) -> None:
    engine = await open_engine(shared_url, register)
    original = await finished(engine)
    yes, no = await engine.fork(original, at=6), await engine.fork(original, at=6)
    await yes.resume({"approved": True})
    await no.resume({"approved": False})
    db = RawDB(shared_url)  # swap the two forks' own events
    for a, b in ((yes.run_id, "tmp"), (no.run_id, yes.run_id), ("tmp", no.run_id)):
        db.execute("UPDATE {events} SET originator_id = ? WHERE originator_id = ?", (b, a))
    fresh = await open_engine(shared_url, register)
    report = await fresh.audit(yes.run_id)
    assert not report.ok and "moved from another run" in (report.reason or "")
    renamed = (await fresh.export_run(no.run_id)).replace(no.run_id.encode(), b"made-up-id")
    with pytest.raises(ValueError, match="moved from another run"):
        await (await open_engine("memory://", register)).import_run(renamed)


async def test_redacting_an_imported_fork_erases_its_first_events_too(
        shared_url: str, open_engine: Any) -> None:
    source = await open_engine("memory://", register)
    fork = await source.fork(await finished(source), at=6)
    await fork.resume({"confirmed_with": SECRET})
    engine = await open_engine(shared_url, register)
    await engine.import_run(await source.export_run(fork.run_id))
    await engine.redact(fork.run_id, reason="erasure")
    assert not [v for v in RawDB(shared_url).all_text() if SECRET in v]
    assert (await engine.audit(fork.run_id)).ok


async def test_a_redacted_run_passes_the_replay_check_unreplayed(store_url: str,
                                                                 open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    run_id = await finished(engine)
    await engine.redact(run_id, reason="r")
    (check,) = await engine.check_replays([run_id])
    assert check.ok and "erased" in (check.error or "")


async def test_redact_refuses_while_a_fork_reading_from_the_run_goes_on(
        store_url: str, open_engine: Any) -> None:
    engine = await open_engine(store_url, register)
    run_id = await finished(engine)
    fork = await engine.fork(run_id, at=6)  # waits at "confirm", reading events 1..6
    with pytest.raises(ValueError, match="forks that have not ended"):
        await engine.redact(run_id, reason="r")
    assert (await fork.resume({"ok": 1})).status == "succeeded"
    await engine.redact(run_id, reason="r")  # once it has ended
    assert (await engine.audit(fork.run_id)).ok


async def test_a_late_snapshot_does_not_bring_erased_data_back(shared_url: str,
                                                              open_engine: Any) -> None:
    holder = await open_engine(shared_url, register, snapshot_every=8)  # the terminal event
    store = holder._runtime().store
    real = store.save_snapshot

    async def late(snapshot: Any) -> None:  # the holder's snapshot lands after the erasure
        await asyncio.sleep(0.5)
        await real(snapshot)

    store.save_snapshot = late  # type: ignore[method-assign]
    run_id = await finished(holder)
    other = await open_engine(shared_url, register)
    await other.redact(run_id, reason="gdpr")
    await holder.flush()
    fresh = await open_engine(shared_url, register)
    assert (await fresh.get_run(run_id)).output == {"redacted": "gdpr"}
    assert not [v for v in RawDB(shared_url).all_text() if SECRET in v]
    assert (await fresh.audit(run_id)).ok


async def test_a_log_deleted_whole_under_its_head_row_is_reported(shared_url: str,
                                                                 open_engine: Any) -> None:
    engine = await open_engine(shared_url, register)
    run_id = await finished(engine)
    RawDB(shared_url).execute("DELETE FROM {events} WHERE originator_id = ?", (run_id,))
    report = await engine.audit(run_id)
    assert (report.ok, report.first_bad) == (False, 1) and "deleted" in (report.reason or "")


async def test_every_read_path_of_forks_of_forks_agrees(store_url: str, open_engine: Any
                                                        ) -> None:
    from tests.test_travel import register as orders

    engine = await open_engine(store_url, orders, snapshot_every=3)
    run = await engine.create_run("order")
    await run.start(12)
    await run.resume({"ok": 1})
    inner = await engine.fork(run.run_id, at=20)
    await inner.resume()
    inside = await engine.fork(inner.run_id, at=15)  # within the inner fork's shared part
    past = await engine.fork(inner.run_id, at=22)  # past it
    await past.resume()
    await engine.flush()
    store = engine._runtime().store
    for rid in (run.run_id, inner.run_id, inside.run_id, past.run_id):
        full = await store.read_events(rid)
        assert [e.position for e in full] == list(range(1, len(full) + 1))
        assert [e.stored() for e in (await store.read_logs([rid]))[rid]] == [
            e.stored() for e in full]
        for after in range(len(full) + 1):
            for upto in [*range(after, len(full) + 2), None]:
                got = await store.read_events(rid, after, upto)
                assert [(e.position, e.hash, e.run_id) for e in got] == [
                    (e.position, e.hash, rid) for e in full[after:upto]], (rid, after, upto)
        for upto in [*range(1, len(full) + 1), None]:
            snapshot, events = await store.read_run(rid, upto)
            got_run = fold(events, snapshot.load() if snapshot else None)
            want = fold(full[:upto])
            assert canonical(RunSnapshot.of(got_run, want.modified_on).state) == canonical(
                RunSnapshot.of(want, want.modified_on).state), (rid, upto)
        assert (await engine.audit(rid)).ok
