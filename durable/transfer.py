"""Moving a run between stores: ``engine.export_run`` and ``engine.import_run``.

An export is JSON lines. The first line is the run's own fields (workflow,
resource, thread, lineage, the chain's root, its length and head hash); then
one line per event: ``position``, ``type``, ``timestamp``, ``data`` (the
payload as JSON, a large result inline, as ``history`` shows it) and the
chain's fields: ``prev_hash``, ``hash``, ``data_hash`` (an erased payload's),
and ``stored``, the payload's stored bytes (base64), which the hash covers and
an import writes back as they were (a large result stored apart is in
``blob``). An import checks every line against its stored form, the chain from
its genesis, and each large result against its hash, and refuses (nothing
written) a broken export or a run id the store holds already.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

import msgspec

from durable.chain import check_chain, root_of
from durable.codec import canonical
from durable.errors import PositionConflict
from durable.events import SETTLED, TOPIC_PREFIX, TYPES_BY_TOPIC, Event, EventType
from durable.fold import fold
from durable.recorded import blob_refs
from durable.run_info import to_public
from durable.runtime import Runtime

FORMAT = "durable-run/1"


class Header(msgspec.Struct, kw_only=True):
    format: str = FORMAT
    run_id: str
    workflow: str
    version: str | None = None
    status: str
    resource_id: str | None = None
    thread_id: str | None = None
    parent_run_id: str | None = None
    continued_from: str | None = None
    forked_from: str | None = None
    fork_position: int | None = None
    root: str
    length: int
    head_hash: str


class Line(msgspec.Struct, kw_only=True, omit_defaults=True):
    position: int
    type: str
    timestamp: datetime
    data: dict[str, Any]
    prev_hash: str
    hash: str
    stored: str  # base64 of the payload's stored bytes
    data_hash: str | None = None
    blob: str | None = None  # base64 of a large result stored apart


_encode = msgspec.json.Encoder().encode


async def export_run(rt: Runtime, run_id: str) -> bytes:
    events = await rt.events(run_id)
    run = fold(events)
    blobs = await rt.store.read_blobs(blob_refs(events))
    header = Header(
        run_id=run_id, workflow=run.workflow, version=run.workflow_version, status=run.status,
        resource_id=run.resource_id, thread_id=run.thread_id, parent_run_id=run.parent_run_id,
        continued_from=run.continued_from, forked_from=run.forked_from,
        fork_position=run.fork_position, root=root_of(run_id, events), length=len(events),
        head_hash=events[-1].hash)
    lines = [_encode(header)]
    for e in events:
        ref = e.payload.ref if e.type is EventType.STEP_COMPLETED else None
        lines.append(_encode(Line(
            position=e.position, type=e.type.value, timestamp=e.timestamp,
            data=canonical(to_public(e, blobs).data), prev_hash=e.prev_hash, hash=e.hash,
            stored=base64.b64encode(e.data).decode(), data_hash=e.data_hash,
            blob=base64.b64encode(blobs[ref]).decode() if ref in blobs else None)))
    return b"\n".join(lines) + b"\n"


async def import_run(rt: Runtime, data: bytes | str) -> str:
    header, events, blobs = parse(data)
    run = fold(events)
    if run.status not in SETTLED:
        raise ValueError(f"the export holds run {header.run_id!r} while it was {run.status}: "
                         "export a run once it has settled (suspended, paused or ended), or "
                         "two stores would execute it")
    try:
        await rt.writer.load(header.run_id, events, blobs)
    except PositionConflict:
        raise ValueError(f"run {header.run_id!r} exists in this store already: nothing was "
                         "imported (delete it first, or import into another store)") from None
    return header.run_id


def parse(data: bytes | str) -> tuple[Header, list[Event], dict[str, bytes]]:
    """The export's header, events and large results, each checked (``ValueError`` naming
    the first bad line)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    text = [line for line in raw.split(b"\n") if line.strip()]
    if not text:
        raise ValueError("the export is empty: give the output of engine.export_run (or "
                         "'durable runs export ID')")
    try:
        header = msgspec.json.decode(text[0], type=Header)
    except msgspec.DecodeError as e:
        raise ValueError(f"line 1 is not a durable run export's header ({e})") from None
    if header.format != FORMAT:
        raise ValueError(f"line 1: format {header.format!r} is not {FORMAT!r}")
    events: list[Event] = []
    blobs: dict[str, bytes] = {}
    for n, line in enumerate(text[1:], start=2):
        events.append(_event(n, line, header.run_id, blobs))
    if len(events) != header.length:
        raise ValueError(f"the export holds {len(events)} events, its header says "
                         f"{header.length}: it was cut short or added to")
    chain = check_chain(header.run_id, events)
    if chain.first_bad is not None:
        raise ValueError(f"line {chain.first_bad + 1}: {chain.reason}; nothing was imported")
    if chain.head_hash != header.head_hash:
        raise ValueError("the export's chain does not end in the head hash its header names: "
                         "it was altered; nothing was imported")
    if root_of(header.run_id, events) != header.root:
        raise ValueError("the export's chain root differs from its header's: it was altered")
    missing = [r for r in blob_refs(events) if r not in blobs]
    if missing:
        raise ValueError(f"the export lacks the large result {missing[0]} its log refers to")
    return header, events, blobs


def _event(n: int, line: bytes, run_id: str, blobs: dict[str, bytes]) -> Event:
    try:
        item = msgspec.json.decode(line, type=Line)
        kind = TYPES_BY_TOPIC[TOPIC_PREFIX + item.type]
        stored = base64.b64decode(item.stored, validate=True)
        e = Event(item.timestamp, msgspec.Raw(stored), item.prev_hash, item.hash, None,
                  item.data_hash, run_id, item.position, kind)
        e.payload  # noqa: B018 - decodes, or says the stored form is not this type's
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, ValueError) as exc:
        raise ValueError(f"line {n} is not an event of a durable run export ({exc})") from None
    blob = base64.b64decode(item.blob) if item.blob is not None else None
    if blob is not None:
        ref = hashlib.sha256(blob).hexdigest()
        if kind is not EventType.STEP_COMPLETED or e.payload.ref != ref:
            raise ValueError(f"line {n}: its large result does not match the hash its event "
                             "refers to: it was altered")
        blobs[ref] = blob
    shown = canonical(to_public(e, {ref: blob} if blob is not None else {}).data)
    if shown != canonical(item.data):
        raise ValueError(f"line {n}: its data differs from its stored form (which the chain "
                         "covers): it was edited")
    return e

