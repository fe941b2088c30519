"""Counting of messages that could not be delivered, warned about at a bounded rate."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

_logger = logging.getLogger(__name__)

#: Seconds between two warnings about the same kind of loss.
WARNING_INTERVAL = 10.0


class LossCounter:
    """Thread-safe counts of lost messages by reason, with rate-limited warnings.

    Every loss is counted at once; a WARNING naming the reason and the number
    lost since the previous warning is logged at most once per ``interval``
    seconds per reason. Only counts and reasons are logged, never a payload.
    """

    def __init__(
        self,
        interval: float = WARNING_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[str, int] = {}
        self._unreported: dict[str, int] = {}
        self._last_warning: dict[str, float] = {}

    def add(self, reason: str, count: int = 1, detail: str = "") -> None:
        """Count ``count`` messages lost for ``reason``; maybe warn."""
        if count <= 0:
            return
        now = self._clock()
        with self._lock:
            self._totals[reason] = self._totals.get(reason, 0) + count
            pending = self._unreported.get(reason, 0) + count
            last = self._last_warning.get(reason)
            if last is not None and now - last < self._interval:
                self._unreported[reason] = pending
                return
            self._unreported[reason] = 0
            self._last_warning[reason] = now
            total = self._totals[reason]
        _logger.warning(
            "Mixpanel: %d item(s) lost (%s%s); %d lost for this reason so far.",
            pending,
            reason,
            f": {detail}" if detail else "",
            total,
        )

    def snapshot(self) -> dict[str, int]:
        """Return the total count of lost messages per reason."""
        with self._lock:
            return dict(self._totals)

    @property
    def total(self) -> int:
        """All messages lost so far, whatever the reason."""
        with self._lock:
            return sum(self._totals.values())

    def reset_after_fork(self) -> None:
        """Give a forked child a fresh lock (counts are kept)."""
        self._lock = threading.Lock()
