"""A seal: every run's length and head hash at one moment, to keep outside the database.

A run's chain proves that its events fit together; it cannot tell that the
newest events were deleted together with the head row that said where the log
ended, or that the whole log was rewritten and re-chained by someone who can
write to the database. A seal can: it records, for every run, how long its log
was and the hash its chain ended in. ``engine.audit(run_id, against=seal)``
fails when the log is now shorter than that, or no longer reaches that hash.

With ``DURABLE_AUDIT_KEY`` set a seal is signed (HMAC-SHA256 over its body),
and a seal whose signature does not check out fails to load: whoever can write
the database cannot forge a seal too, unless they also hold the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime

import msgspec

KEY_VARIABLE = "DURABLE_AUDIT_KEY"


class SealedRun(msgspec.Struct, array_like=True, frozen=True):
    length: int
    head_hash: str


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    format: str = "durable-seal/1"
    created_at: datetime
    runs: dict[str, SealedRun]


_encode = msgspec.json.Encoder(order="sorted").encode


class Seal(msgspec.Struct, frozen=True, kw_only=True):
    """Every run's length and head hash at ``created_at`` (``engine.seal()``)."""

    created_at: datetime
    runs: dict[str, SealedRun]
    signature: str | None = None  # HMAC-SHA256 of the body, when a key was set
    digest: str = ""  # SHA-256 of the body: catches a seal damaged by accident

    @classmethod
    def make(cls, created_at: datetime, runs: dict[str, SealedRun]) -> Seal:
        body = _encode(_Body(created_at=created_at, runs=runs))
        key = _key()
        return cls(created_at=created_at, runs=runs, digest=hashlib.sha256(body).hexdigest(),
                   signature=hmac.new(key, body, "sha256").hexdigest() if key else None)

    def to_json(self) -> str:
        return _encode(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Seal:
        """Load a seal; ``ValueError`` if it is damaged, or (with ``DURABLE_AUDIT_KEY``
        set) unsigned or signed with another key."""
        try:
            seal = msgspec.json.decode(text, type=cls)
        except msgspec.DecodeError as e:
            raise ValueError(f"this is not a durable seal ({e}); make one with "
                             "'durable audit seal' or engine.seal()") from None
        body = _encode(_Body(created_at=seal.created_at, runs=seal.runs))
        if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), seal.digest):
            raise ValueError("the seal was altered or damaged: its digest does not match its "
                             "contents; use the copy you kept")
        key = _key()
        if key is not None:
            if seal.signature is None:
                raise ValueError(f"the seal is not signed, and {KEY_VARIABLE} is set: it was "
                                 "made without the key, or its signature was removed")
            if not hmac.compare_digest(hmac.new(key, body, "sha256").hexdigest(),
                                       seal.signature):
                raise ValueError(f"the seal's signature does not match {KEY_VARIABLE}: it was "
                                 "forged, altered, or signed with another key")
        elif seal.signature is not None:
            raise ValueError(f"the seal is signed: set {KEY_VARIABLE} to the key it was "
                             "signed with, so that its signature can be checked")
        return seal


def _key() -> bytes | None:
    value = os.environ.get(KEY_VARIABLE)
    return value.encode() if value else None
