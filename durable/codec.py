"""How values cross into the log: msgspec msgpack, one canonical form.

Whatever a step returns is stored as msgpack and handed back to the workflow
in its decoded form, live and on replay alike, so the two can never differ.
"""

from __future__ import annotations

from typing import Any

import msgspec


def _enc_hook(obj: Any) -> Any:
    raise TypeError(
        f"{type(obj).__name__} values cannot be stored in a run's log; return dicts, lists, "
        "scalars, datetimes, msgspec.Struct or dataclass instances"
    )


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.msgpack.Decoder()

encode = _encoder.encode
decode = _decoder.decode


def canonical(value: Any) -> Any:
    """The value as the log will give it back (tuples become lists, structs dicts)."""
    if value is None or type(value) in (str, int, bool, float):
        return value
    return decode(encode(value))


class MsgpackTranscoder:
    """The eventsourcing ``Transcoder`` for our events: msgspec msgpack, no tagging.

    Event envelopes hold only str/int/float/bool/None/bytes/list/dict/datetime,
    which msgpack round-trips faithfully (datetimes as the timestamp extension).
    """

    def encode(self, obj: Any) -> bytes:
        return _encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        return _decoder.decode(data)
