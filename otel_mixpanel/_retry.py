"""The retry policy: which failures are retried, and how long to wait between tries."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Callable, Optional

#: Statuses that mean "not now": the request may be sent again.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

#: Of those, the ones after which the server may have applied the request.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """An immutable policy: how many retries, how far apart, within what deadline.

    ``deadline`` bounds one call, all its attempts and waits included. The
    wait before retry ``n`` (0-based) is drawn between half and all of
    ``backoff_factor * 2 ** n``, capped at ``max_backoff``; a server's
    ``Retry-After`` lengthens it, and a wait that would pass the deadline
    ends the call instead.
    """

    max_retries: int = 4
    backoff_factor: float = 0.25
    max_backoff: float = 30.0
    deadline: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.backoff_factor < 0 or self.max_backoff < 0:
            raise ValueError("backoff values must be 0 or more")
        if self.deadline <= 0:
            raise ValueError("deadline must be positive")

    def backoff(
        self,
        retry_number: int,
        retry_after: Optional[float] = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Return the seconds to wait before retry ``retry_number`` (from 0)."""
        ceiling = min(self.max_backoff, self.backoff_factor * (2**retry_number))
        delay = uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


def parse_retry_after(
    value: Optional[str], now: Callable[[], float] = time.time
) -> Optional[float]:
    """Return the seconds a ``Retry-After`` header asks for, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)
