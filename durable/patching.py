"""``ctx.patched(patch_id)``: changing a workflow without breaking the runs already
past the change (decision 0012).

``if ctx.patched("v2-tax"): new() else: old()`` takes the new path in a run that
reaches the call for the first time under code that has it, and records that in
the log (a ``patched`` marker naming the patch), so every replay of the run takes
it again. A run that passed this point under older code took the old path: its
replay meets the call with the log still holding what came after that point (the
old path's steps, a suspension it waits at, its end) and no marker, and takes the
old path again. So both paths replay, and the changed code can be deployed while
old runs are in flight.

The decision is the run's, per patch id: the first call decides, every later call
of that id in the run (another iteration, another branch) gets the same answer,
and the marker is matched by id, wherever in the log it stands. Branches that run
concurrently (``asyncio.gather``, ``ctx.map``) finish in another order on every
execution; matching by id and asking "is any of the log still ahead?" instead of
"what does the log hold at position N?" makes the answer the same on every replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.events import TERMINAL, EventType, Patched

if TYPE_CHECKING:
    from durable.replay import Replay


def patched(ex: Replay, patch_id: str) -> bool:
    """The run's answer for ``patch_id``, decided (and recorded) on the first call."""
    known = ex.patches.get(patch_id)
    if known is not None:
        return known
    if patch_id in ex.recorded.patches:
        taken = True  # the run took the new path here before: it takes it again
    elif ahead(ex):
        taken = False  # the run passed here under code without the patch
    else:
        taken = True  # the first time here: record it (before any step of the new path)
        ex.pending.append((EventType.PATCHED, Patched(patch_id=patch_id)))
        ex.unmarked = True
    ex.patches[patch_id] = taken
    return taken


def ahead(ex: Replay) -> bool:
    """Does the log still hold something this replay has not reached: a delivery not
    yet made, a step, suspension or child the code has not asked for yet, a state
    change not yet made again, or the run's end? Then the run went past this point
    before. False in live execution (all of the log was replayed)."""
    rec = ex.recorded
    if ex.cursor < len(rec.deliveries) or rec.state_sets > ex.state_seq:
        return True
    if ex.run.status in TERMINAL:
        return True
    if not rec.kinds:
        return False
    delivered = {key for key, _ in rec.deliveries}
    return any(key not in ex.requests and key not in delivered and key not in ex.withdrawn
               for key in rec.kinds)
