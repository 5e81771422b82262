"""Who executes a run, and whether they still do.

An engine's identity (host, pid, process start time, and a random part) is
taken when it opens, not when it is made: an engine made at import time and
then forked (gunicorn ``--preload``, multiprocessing) is a new owner in each
child. On one host a dead owner is known by its process: the pid is gone, or
it now belongs to a process started at another time (pids are reused).
Elsewhere an owner is dead when its lease lapsed. A slow owner whose lease
lapsed is fenced by the log: its next append conflicts with the recoverer's
claim. A holder that stops while its process lives clears the owner columns
(``Writer.release``), and the run is claimable at once.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable.store.types import Head


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22, counted after the parenthesised command name (which may hold spaces).
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (killed, not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # no /proc here: existing is all we can tell
    return stat[stat.rindex(b")") + 2 :][:1] not in (b"Z", b"X")


@dataclass(frozen=True)
class Owner:
    """One open engine, as the head rows of the runs it holds name it."""

    id: str
    host: str
    pid: int
    start: int | None

    @classmethod
    def this_process(cls) -> Owner:
        pid = os.getpid()
        return cls(
            id=f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}",
            host=socket.gethostname(),
            pid=pid,
            start=process_start(pid),
        )


def owner_is_dead(
    host: str | None, pid: int | None, start: int | None, lease_until: float | None,
    *, here: Owner, now: float | None = None,
) -> bool:
    if host is None or pid is None:
        return True
    if host == here.host:
        if not pid_alive(pid):
            return True
        actual = process_start(pid)
        return start is not None and actual is not None and actual != start
    return lease_until is None or lease_until < (now if now is not None else time.time())


def holder_gone(head: Head, *, me: Owner, executing_here: bool, now: float | None = None
                ) -> bool:
    """Nobody executes the run any more: its head names no owner, names this engine
    while it does not execute the run, or names an owner that is dead."""
    if head.owner_id is None:
        return True
    if head.owner_id == me.id:
        return not executing_here
    return owner_is_dead(head.owner_host, head.owner_pid, head.owner_start, head.lease_until,
                         here=me, now=now)
