"""``durable demo``: the bundled order example end to end, told for a newcomer.

Also home of the rich renderings the command line shares (runs, suspensions,
histories), so the demo and ``durable runs ...`` show things the same way.
Nothing here prints on import; every function writes to the console it is given.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from durable.engine import Engine
from durable.examples.orders import register
from durable.paths import path_key
from durable.results import Audit, Event, RunInfo, RunResult

WORKFLOW = "approve-order"
TABLE_STYLE: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False, "title_justify": "left",
                               "title_style": "bold"}


# -- rendering (shared with the command line) ---------------------------------------
def make_console() -> Console:
    """A console for people: colour only on a terminal; 120 columns when writing to a
    file or pipe (unless $COLUMNS says otherwise), so tables are not squeezed."""
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=120)
    return out


def fmt_time(dt: datetime | None, *, ms: bool = False) -> str:
    """``2025-01-31 14:03:07`` (UTC), with milliseconds if ``ms``; ``-`` for None."""
    if dt is None:
        return "-"
    text = dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-3] if ms else text[:-7]


def summarize(value: Any, limit: int = 60) -> str:
    """A compact one-line JSON form of ``value``, cut to ``limit`` characters."""
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(data: dict[str, Any]) -> str:
    return repr(path_key(tuple(data.get("path") or ())))


def describe_event(e: Event) -> str:
    """What one log event means, in words."""
    d = e.data
    t = e.type
    if t == "started":
        version = f" v{d['version']}" if d.get("version") else ""
        return f"run started: {d.get('workflow')}{version}, input {summarize(d.get('input'))}"
    if t == "step_completed":
        retry = f" (attempt {d['attempt'] + 1})" if d.get("attempt") else ""
        return f"step {_step(d)} completed{retry} → {summarize(d.get('result'))}"
    if t == "step_failed":
        then = "giving up" if d.get("final") else "will retry"
        return (f"step {_step(d)} failed (attempt {d.get('attempt', 0) + 1}, {then}): "
                f"{d.get('error_type')}: {summarize(d.get('message'), 50)}")
    if t == "suspended":
        return (f"suspended at {_step(d)} ({d.get('kind', 'input')}), "
                f"waiting with {summarize(d.get('payload'))}")
    if t == "waiting":
        return f"every branch is waiting ({', '.join(d.get('paths') or [])})"
    if t == "resumed":
        return f"{_step(d)} resumed with {summarize(d.get('data'))}"
    if t == "state_set":
        return f"state set to {summarize(d.get('state'))}"
    if t == "succeeded":
        return f"run succeeded → {summarize(d.get('output'))}"
    if t == "failed":
        return f"run failed: {summarize(d.get('error'), 70)}"
    if t == "cancelled":
        return f"run cancelled: {d.get('reason') or 'no reason given'}"
    if t == "patched":
        return f"took the changed code's path at patch {d.get('patch_id')!r}"
    if t == "recovered":
        return "run recovered by a new process after its owner died"
    if t in ("paused", "continued"):
        return f"run {t}"
    return f"{t} {summarize(d)}"


def events_table(events: Sequence[Event], title: str | None = None) -> Table:
    """Position, type, time and what each event says."""
    table = Table(title=title, **TABLE_STYLE)
    table.add_column("#", justify="right")
    table.add_column("type")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("what happened")
    for e in events:
        table.add_row(str(e.position), e.type, fmt_time(e.timestamp, ms=True),
                      Text(describe_event(e)))
    return table


def waiting_on(info: RunInfo) -> str:
    """The paths a run waits on, comma separated (``-`` if none)."""
    return ", ".join(path_key(p) for p in info.suspended) or "-"


def runs_table(runs: Sequence[RunInfo], title: str | None = None) -> Table:
    """One row per run: id, workflow, status, when it was created, what it waits on."""
    table = Table(title=title, **TABLE_STYLE)
    for name in ("run id", "workflow", "status", "created (UTC)", "waiting on", "from"):
        table.add_column(name, no_wrap=name in ("run id", "created (UTC)"))
    for r in runs:
        workflow = f"{r.workflow} v{r.version}" if r.version else r.workflow
        status = f"{r.status}, blocked" if r.blocked else r.status
        table.add_row(r.run_id, Text(workflow), status, fmt_time(r.created_at),
                      Text(waiting_on(r)), Text(lineage(r, short=True)))
    return table


def lineage(r: RunInfo, *, short: bool = False) -> str:
    """Where a run comes from: a fork's original and position, a continued run's
    predecessor, a child's parent ("" for a run started on its own)."""
    def ref(run_id: str) -> str:
        return run_id[:8] if short else run_id
    if r.forked_from:
        return f"fork of {ref(r.forked_from)} at event {r.fork_position}"
    if r.continued_from:
        return f"continues {ref(r.continued_from)}"
    if r.parent_run_id:
        return f"child of {ref(r.parent_run_id)}"
    return ""


def suspended_table(runs: Sequence[RunInfo], title: str | None = None) -> Table:
    """One row per open suspension: run, step, kind, payload, since when."""
    table = Table(title=title, **TABLE_STYLE)
    for name in ("run id", "workflow", "step", "kind", "payload", "since (UTC)"):
        table.add_column(name, no_wrap=name in ("run id", "since (UTC)"))
    for r in runs:
        for s in r.suspensions:
            table.add_row(r.run_id, Text(r.workflow), Text(path_key(s.path)), s.kind,
                          Text(summarize(s.payload, 40)), fmt_time(s.suspended_at))
    return table


def run_table(info: RunInfo, title: str | None = None) -> Table:
    """A run's fields, one per line."""
    table = Table(title=title or f"Run {info.run_id}", show_header=False, **TABLE_STYLE)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("run id", info.run_id),
        ("workflow", f"{info.workflow} v{info.version}" if info.version else info.workflow),
        ("status", info.status),
        ("created", fmt_time(info.created_at) + " UTC"),
        ("updated", fmt_time(info.updated_at) + " UTC"),
        ("events", info.position),
    ]
    rows += [(k, v) for k, v in (("resource", info.resource_id), ("thread", info.thread_id),
                                 ("from", lineage(info))) if v]
    for s in info.suspensions:
        rows.append((f"waiting on {path_key(s.path)}",
                     f"{s.kind}, since {fmt_time(s.suspended_at)} UTC: {summarize(s.payload)}"))
    if info.state:
        rows.append(("state", summarize(info.state, 200)))
    if info.status == "succeeded":
        rows.append(("output", summarize(info.output, 200)))
    if info.error:
        rows.append(("error", info.error))
    if info.blocked:
        rows.append(("blocked", info.blocked))
    for name, value in rows:
        table.add_row(name, Text(str(value)))
    return table


def audit_table(audits: list[Audit]) -> Table:
    """Each run id with what its audit found."""
    table = Table(title="Audit", **TABLE_STYLE)
    table.add_column("run id", no_wrap=True)
    table.add_column("events", justify="right")
    table.add_column("result")
    for a in audits:
        erased = f" ({a.redacted} payloads redacted)" if a.redacted else ""
        table.add_row(a.run_id, str(a.length),
                      f"intact{erased}" if a.ok else f"ALTERED at event {a.first_bad}: {a.reason}")
    return table


# -- the demo -----------------------------------------------------------------------
def new_order() -> dict[str, Any]:
    """A fresh order each time the demo runs."""
    return {"order_id": f"ord-{uuid.uuid4().hex[:6]}", "sku": "B-2", "qty": 3,
            "customer": "customer-42"}


def where(engine: Engine) -> str:
    """The store URL, plus the file's full path for SQLite."""
    if engine.url.startswith("sqlite:///"):
        return f"{engine.url}  ({os.path.abspath(engine.url[len('sqlite:///'):])})"
    return engine.url


def section(out: Console, title: str) -> None:
    out.print()
    out.rule(Text(title, style="bold"), align="left")


async def print_new_events(out: Console, engine: Engine, run_id: str, seen: int) -> int:
    """Print the run's events after position ``seen``; return the new last position."""
    events = await engine.history(run_id)
    for e in events[seen:]:
        out.print(Text(f"  {e.position:>2}. {describe_event(e)}"))
    return len(events)


async def approve_in_fresh_engine(out: Console, engine: Engine, run_id: str) -> RunResult:
    """Resume as another process would: a new Engine on the same file replays the log."""
    if engine.url.startswith("memory://"):  # nothing outlives the engine: resume in place
        out.print(Text('run.resume({"approved": True}) hands the decision to the waiting run:'))
        return await (await engine.create_run(WORKFLOW, run_id=run_id)).resume({"approved": True})
    out.print(Text("A new Engine opens the same store, as a restarted process would. "
                   'run.resume({"approved": True}) replays the log (the price step is not run '
                   "again), records the decision and carries on:"))
    later = Engine(engine.url)
    register(later)
    async with later:
        run = await later.create_run(WORKFLOW, run_id=run_id)
        return await run.resume({"approved": True})


async def run_demo(engine: Engine, out: Console) -> str:
    """Register the example, run one order through approval, and narrate; return the run id."""
    register(engine)
    out.print(Text("durable demo: an order that waits for a manager's approval", style="bold"))
    out.print(Text(f"Store: {where(engine)}"))
    out.print("Workflow: approve-order v1 (durable/examples/orders.py): price the order, "
              "suspend for approval, then reserve stock and ship.")

    section(out, "1. Start a run for a new order")
    order = new_order()
    run = await engine.create_run(WORKFLOW, resource_id=order["customer"])
    out.print(Text(f"Order {summarize(order, 100)}"))
    out.print(Text(f"Run id {run.run_id}: run.start(order) executes until the workflow waits."))
    result = await run.start(order)
    seen = await print_new_events(out, engine, run.run_id, 0)
    price = result.suspend_payloads.get("approval", {}).get("price")
    out.print(Text(f"Status: {result.status}, waiting at 'approval' for a person "
                   f"(price {price}).", style="bold"))
    out.print("Nothing is executing now: the run lives in its event log, so it can wait for "
              "days and survive restarts.")

    section(out, "2. Runs waiting for a person")
    waiting = await engine.list_suspended_runs(workflow=WORKFLOW)
    out.print(Text("engine.list_suspended_runs(workflow='approve-order') finds "
                   f"{waiting.total} waiting run(s):"))
    out.print(suspended_table(waiting.runs))

    section(out, "3. Days later, in a fresh engine, a manager approves")
    result = await approve_in_fresh_engine(out, engine, run.run_id)
    await print_new_events(out, engine, run.run_id, seen)
    out.print(Text(f"Status: {result.status}. Output: {summarize(result.output, 100)}",
                   style="bold"))

    section(out, "4. The run's full history")
    out.print(events_table(await engine.history(run.run_id)))
    intact = await engine.verify(run.run_id)
    verdict = ("the hash chain is intact: each event is linked to the one before it, so an "
               "edit to stored history would show." if intact else
               "the hash chain is BROKEN: stored history was altered.")
    out.print(Text(f"engine.verify(run_id) → {intact}: {verdict}"))

    section(out, "Try next")
    for cmd in ("durable runs list", f"durable runs history {run.run_id}",
                f"durable runs show {run.run_id}", "durable demo   (again: a fresh run)"):
        out.print(Text(f"  {cmd}"))
    return run.run_id
