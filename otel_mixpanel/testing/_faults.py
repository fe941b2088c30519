"""Injected faults of the local Mixpanel server: failures, drops, stalls, pauses.

A :class:`FaultPlan` is consulted by every request handler thread; all of its
state sits behind one condition so faults can be combined and changed while
requests are in flight.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from ._wire import Reply, error_reply, with_header


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of processing it."""

    kind: str  # "drop" or "fail"
    status: int = 0
    retry_after: Optional[float] = None
    body: Optional[str] = None


@dataclass
class _FailRule:
    remaining: int
    status: int
    retry_after: Optional[float]
    endpoint: Optional[str]
    body: Optional[str]


@dataclass
class _RateRule:
    rate: float
    rng: random.Random
    status: int = 0
    endpoint: Optional[str] = None


class FaultPlan:
    """Thread-safe schedule of faults; ``on_change`` is called when one is held."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._condition = threading.Condition(threading.Lock())
        self._stopping = False
        self._generation = 0
        self._down = False
        self._paused = False
        self._held = 0
        self._drop_next = 0
        self._drop_rate: Optional[_RateRule] = None
        self._fail_rules: List[_FailRule] = []
        self._fail_rate: Optional[_RateRule] = None
        self._stalls: List[float] = []

    def fail_next(
        self,
        count: int,
        status: int,
        retry_after: Optional[float],
        endpoint: Optional[str],
        body: Optional[str],
    ) -> None:
        """Fail the next ``count`` requests to ``endpoint`` (any when None)."""
        if count <= 0:
            return
        with self._condition:
            self._fail_rules.append(
                _FailRule(count, status, retry_after, endpoint, body)
            )

    def fail_rate(
        self, rate: float, status: int, seed: Optional[int], endpoint: Optional[str]
    ) -> None:
        """Fail each request to ``endpoint`` with probability ``rate``."""
        with self._condition:
            self._fail_rate = _RateRule(rate, random.Random(seed), status, endpoint)

    def drop_next(self, count: int) -> None:
        """Close the next ``count`` connections without a reply."""
        with self._condition:
            self._drop_next += max(count, 0)

    def drop_rate(self, rate: float, seed: Optional[int]) -> None:
        """Close each connection without a reply with probability ``rate``."""
        with self._condition:
            self._drop_rate = _RateRule(rate, random.Random(seed))

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold the reply of the next ``count`` processed requests."""
        with self._condition:
            self._stalls.extend([seconds] * max(count, 0))

    def set_paused(self, paused: bool) -> None:
        """Hold every request from now on (True) or release them all (False)."""
        with self._condition:
            self._paused = paused
            self._condition.notify_all()

    def set_down(self, down: bool) -> None:
        """Close every connection at once (True) or serve again (False)."""
        with self._condition:
            self._down = down

    def clear(self) -> None:
        """Remove every fault; held and stalled requests are released."""
        with self._condition:
            self._down = False
            self._paused = False
            self._drop_next = 0
            self._drop_rate = None
            self._fail_rules.clear()
            self._fail_rate = None
            self._stalls.clear()
            self._generation += 1
            self._condition.notify_all()

    def stop(self) -> None:
        """Release everything held or stalled, for good."""
        with self._condition:
            self._stopping = True
            self._paused = False
            self._condition.notify_all()

    @property
    def down(self) -> bool:
        """Whether the server is simulating an outage."""
        with self._condition:
            return self._down

    @property
    def held(self) -> int:
        """Requests currently held by a pause."""
        with self._condition:
            return self._held

    def hold_if_paused(self) -> bool:
        """Block while paused; return whether this request was held."""
        with self._condition:
            if not self._paused or self._stopping:
                return False
            self._held += 1
        self._on_change()
        with self._condition:
            while self._paused and not self._stopping:
                self._condition.wait()
            self._held -= 1
        self._on_change()
        return True

    def take_fault(self, endpoint: str) -> Optional[Fault]:
        """Pick the drop or failure (if any) that applies to this request."""
        with self._condition:
            if self._drop_next > 0:
                self._drop_next -= 1
                return Fault("drop")
            if self._drop_rate is not None and _draw(self._drop_rate):
                return Fault("drop")
            for rule in self._fail_rules:
                if rule.endpoint is None or rule.endpoint == endpoint:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._fail_rules.remove(rule)
                    return Fault("fail", rule.status, rule.retry_after, rule.body)
            rate = self._fail_rate
            if rate is not None and rate.endpoint in (None, endpoint) and _draw(rate):
                return Fault("fail", rate.status)
            return None

    def take_stall(self) -> Optional[float]:
        """Seconds to hold the reply of this processed request, if any."""
        with self._condition:
            return self._stalls.pop(0) if self._stalls else None

    def stall(self, seconds: float) -> None:
        """Wait ``seconds`` unless faults are cleared or the server stops."""
        with self._condition:
            generation = self._generation
            self._condition.wait_for(
                lambda: self._stopping or self._generation != generation, seconds
            )


def _draw(rule: _RateRule) -> bool:
    return rule.rng.random() < rule.rate


def failure_reply(endpoint: str, fault: Fault, query: Dict[str, str]) -> Reply:
    """The reply to a request failed on purpose by ``fault``."""
    if fault.body is not None:
        looks_json = fault.body.lstrip()[:1] in ("{", "[")
        content_type = "application/json" if looks_json else "text/plain"
        reply = Reply(fault.status, fault.body.encode("utf-8"), content_type)
    else:
        verbose = query.get("verbose", "").lower() in ("1", "true")
        reply = error_reply(endpoint, fault.status, "injected failure", verbose)
    if fault.retry_after is not None:
        reply = with_header(reply, "Retry-After", _format_seconds(fault.retry_after))
    return reply


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
