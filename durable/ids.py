"""New run ids: version-4 UUID strings, from the system's random source.

``uuid.uuid4()`` asks the kernel for 16 bytes per id; on a busy engine that system
call is a measurable part of starting a run. Here the bytes are read 4 KiB at a
time and handed out 16 at a time: the same source, one call per 256 ids. A forked
child drops what its parent had read, so no two processes hand out the same bytes.
"""

from __future__ import annotations

import os
import uuid

_CHUNK = 16 * 256
_buffer = b""
_offset = 0


def new_run_id() -> str:
    global _buffer, _offset
    if _offset >= len(_buffer):
        _buffer, _offset = os.urandom(_CHUNK), 0
    raw = _buffer[_offset:_offset + 16]
    _offset += 16
    return str(uuid.UUID(bytes=raw, version=4))


def _forget() -> None:
    global _buffer, _offset
    _buffer, _offset = b"", 0


os.register_at_fork(after_in_child=_forget)
