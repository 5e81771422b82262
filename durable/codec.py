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
    """The value as the log will give it back (tuples become lists, structs dicts).

    Raises ``TypeError`` (a type the log cannot hold), ``OverflowError`` (an int
    outside 64 bits) or ``UnicodeEncodeError`` (a lone surrogate in a string).
    """
    kind = type(value)
    if value is None or kind is bool or kind is float or (
            kind is int and -(2**63) <= value < 2**64):
        return value
    return decode(encode(value))


def storable_text(text: str) -> str:
    """Free text (an error message, a reason) as the log can hold it: a lone surrogate,
    which has no UTF-8 form, is written as its escape (``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class MsgpackTranscoder:
    """The eventsourcing ``Transcoder`` for our events: msgspec msgpack, no tagging.

    Event envelopes hold only str/int/float/bool/None/bytes/list/dict/datetime,
    which msgpack round-trips faithfully (datetimes as the timestamp extension).
    """

    def encode(self, obj: Any) -> bytes:
        return _encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        return _decoder.decode(data)
