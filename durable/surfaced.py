"""What a parent knows of its children: a child's suspensions, surfaced under the
child's path (which child a resume of the parent answers, and by which path in
it), and whether a child's news is new to the parent. Pure: no I/O."""

from __future__ import annotations

from typing import Any

from durable.errors import AmbiguousResume
from durable.events import TERMINAL, Kind
from durable.fold import RunLog
from durable.paths import Path, path_key
from durable.starts import continued_id

CHAIN = 1000  # generations of a child that continues as new, looked through for news


class Nested(Exception):  # a signal, not an error: nothing was written
    """A resume of a run answers a suspension of one of its children: resume the
    child ``run_id`` at ``path`` instead."""

    def __init__(self, run_id: str, path: Path) -> None:
        super().__init__(run_id, path)
        self.run_id = run_id
        self.path = path


def check_nested(run: RunLog, key: str | None, kind: str | None) -> None:
    """Raise :class:`Nested` if a resume of ``run`` (at ``key``, answering ``kind``)
    is meant for a child's suspension surfaced here; :class:`AmbiguousResume` if no
    ``key`` was given and more than one suspension, some of them a child's, is open."""
    if not run.children or kind == Kind.TIMER:
        return
    every = [s for s in run.suspensions.values()
             if (kind is None and s["kind"] != Kind.TIMER) or s["kind"] == kind]
    if key is not None:
        hits = [s for s in every if path_key(s["path"]) == key]
    elif len(every) > 1 and any("child" in s for s in every):
        raise AmbiguousResume(run.id, [s["path"] for s in every])
    else:
        hits = every
    if len(hits) == 1 and "child" in hits[0]:
        s = hits[0]
        c = run.children[s["child"]]
        raise Nested(c["run_id"], tuple(s["path"][len(c["path"]):]))


def is_news(run: RunLog, item: tuple[Any, Any]) -> bool:
    """Is a child's news (``child_suspended`` or ``child_ended``) new to ``run``? The
    child's log moved past what ``run`` recorded last (or the news comes from a later
    run of the child's continue-as-new chain), and ``run`` still waits for it."""
    p = item[1]
    known = run.children.get(path_key(p.path))
    if known is None:
        return True
    if known.get("withdrawn") or known["status"] in TERMINAL:
        return False
    if known["run_id"] == p.run_id:
        return bool(p.position > known["position"])
    later = known["run_id"]
    for _ in range(CHAIN):
        later = continued_id(later)
        if later == p.run_id:
            return True
    return False  # from an earlier run of the chain: stale
