"""Reading Mixpanel's replies: the HTTP status and the body, for each endpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ._retry import AMBIGUOUS_STATUSES, RETRYABLE_STATUSES, parse_retry_after

OK = "ok"
REJECTED = "rejected"
PARTIAL = "partial"
RETRY = "retry"
TOO_LARGE = "too_large"

_REASON_LIMIT = 200


@dataclass(frozen=True)
class Outcome:
    """What a reply means for the batch that was sent."""

    kind: str
    reason: str = ""
    status: int = 0
    failed_records: list[dict[str, Any]] = field(default_factory=list)
    retry_after: Optional[float] = None
    ambiguous: bool = False


def interpret(status: int, body: bytes, headers: Mapping[str, str]) -> Outcome:
    """Turn an HTTP status, body and headers into an :class:`Outcome`."""
    if status == 413:
        return Outcome(TOO_LARGE, "request too large", status)
    if status in RETRYABLE_STATUSES:
        return Outcome(
            RETRY,
            f"HTTP {status}",
            status,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            ambiguous=status in AMBIGUOUS_STATUSES,
        )
    document = _parse(body)
    if status == 400 and isinstance(document, dict):
        failed = document.get("failed_records")
        if isinstance(failed, list) and failed:
            return Outcome(PARTIAL, _reason(document, status), status, _records(failed))
    if status >= 400:
        return Outcome(REJECTED, _reason(document, status), status)
    if 200 <= status < 300:
        if _accepted(document):
            return Outcome(OK, status=status)
        return Outcome(REJECTED, _reason(document, status), status)
    return Outcome(REJECTED, f"unexpected HTTP {status}", status)


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _accepted(document: Any) -> bool:
    """Tell whether a 2xx body says the data was taken."""
    if isinstance(document, bool):
        return False
    if isinstance(document, int):
        return document == 1
    if isinstance(document, dict):
        if "status" in document and document["status"] not in (1, "OK", "ok"):
            return False
        code = document.get("code")
        return code is None or code == 200
    return False


def _reason(document: Any, status: int) -> str:
    """Mixpanel's own reason from a reply, shortened, or the status."""
    reason = None
    if isinstance(document, dict):
        reason = document.get("error") or document.get("message")
    text = str(reason) if reason else f"HTTP {status}"
    return text[:_REASON_LIMIT]


def _records(failed: list[Any]) -> list[dict[str, Any]]:
    """Keep the fields of failed records that say which and why, not values."""
    kept = []
    for record in failed:
        if isinstance(record, dict):
            kept.append(
                {
                    key: record.get(key)
                    for key in ("index", "$insert_id", "field", "message")
                }
            )
    return kept
