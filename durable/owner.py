"""Who executes a run, and whether they are still alive.

On one host a dead owner is known by its process: the pid is gone, or it now
belongs to a process started at another time (pids are reused). Elsewhere an
owner is dead when its lease lapsed. A slow owner whose lease lapsed is
fenced by the log: its next append conflicts with the recoverer's claim.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Owner:
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
