"""What the mapping produces: JSON messages per endpoint, with stable insert ids.

``$insert_id`` is derived from the record, so a record exported twice is
deduplicated by Mixpanel.
"""

from __future__ import annotations

import hashlib

_LOW_64_BITS = 2**64 - 1
_MAX_PLAIN_POSITION = 0xFFFF


class MessageBatch:
    """JSON messages mapped from records, per endpoint, ready for ``send_many``."""

    __slots__ = ("event_endpoint", "events", "people")

    def __init__(self, event_endpoint: str) -> None:
        self.event_endpoint = event_endpoint
        self.events: list[str] = []
        self.people: list[str] = []

    def by_endpoint(self) -> list[tuple[str, list[str]]]:
        """The non-empty lists of messages with the endpoint each goes to."""
        pairs = [(self.event_endpoint, self.events), ("people", self.people)]
        return [(endpoint, messages) for endpoint, messages in pairs if messages]

    def __len__(self) -> int:
        return len(self.events) + len(self.people)


def insert_id(trace_id: int, span_id: int, position: int = 0, seed: bytes = b"") -> str:
    """A deterministic ``$insert_id`` of at most 36 characters of ``[0-9a-f]``.

    A span is position 0 and its span events 1, 2, ...: the id is then the hex
    of the low 64 bits of the trace id, the span id and the position (none for
    0). A record without a span, or several records of one span, must pass a
    ``seed`` that identifies the record (time, logger, body, ...); the id is
    then 32 hex characters of a BLAKE2b digest of all four.
    """
    if not seed and (trace_id or span_id) and 0 <= position <= _MAX_PLAIN_POSITION:
        plain = f"{trace_id & _LOW_64_BITS:016x}{span_id & _LOW_64_BITS:016x}"
        return plain + f"{position:x}" if position else plain
    digest = hashlib.blake2b(
        (trace_id & (2**128 - 1)).to_bytes(16, "big")
        + (span_id & _LOW_64_BITS).to_bytes(8, "big")
        + (position & (2**32 - 1)).to_bytes(4, "big")
        + seed,
        digest_size=16,
    )
    return digest.hexdigest()
