"""Run ids: UUID4 strings, never repeated, not shared with a forked child."""

from __future__ import annotations

import os
import uuid

from durable.ids import new_run_id


def test_run_ids_are_distinct_version_4_uuids() -> None:
    ids = [new_run_id() for _ in range(2000)]  # several refills of the buffer
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_run_id()  # the parent holds a partly used buffer
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the ids it would hand out next, and leave
        os.close(r)
        os.write(w, " ".join(new_run_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        child = set(f.read().split())
    os.waitpid(pid, 0)
    parent = {new_run_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
