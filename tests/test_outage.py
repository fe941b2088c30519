"""A Mixpanel outage: bounded memory, counted drops, free application threads, recovery.

The outage lasts ``OTEL_MIXPANEL_OUTAGE_SECONDS`` (default 3 s here; the
benchmark, ``bench/outage.py``, runs the full 60 s). Its first half Mixpanel
accepts connections and never answers, its second half it closes them at once.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import re
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mixpanel import (
    BackgroundConsumer,
    BufferedConsumer,
    Mixpanel,
    MixpanelHandler,
    MixpanelLogExporter,
    MixpanelSpanExporter,
)
from otel_mixpanel._loss import WARNING_INTERVAL
from otel_mixpanel.testing import MixpanelServer

OUTAGE_SECONDS = float(os.environ.get("OTEL_MIXPANEL_OUTAGE_SECONDS", "3"))
#: One request may take this long; a call that waited on delivery would take longer.
REQUEST_TIMEOUT = 1.0
#: The configured sizes every bound below derives from.
QUEUE = 200  # SDK queue of each path (BackgroundConsumer: its message queue)
BATCH = 50  # messages per export / request
BUFFER = 100  # messages each BufferedConsumer keeps while Mixpanel is away
#: Items one path can hold: its queue, its buffer, and a batch in flight at each.
HELD_BOUND = QUEUE + BUFFER + 2 * BATCH
#: A generous upper estimate of one held item: SDK record, attributes and JSON.
BYTES_PER_MESSAGE = 4096
#: Events each path emits during the outage: ten times what it may hold, so
#: that keeping them all (about 2 KiB each) would break the memory bound.
PER_PATH = 10 * HELD_BOUND
ROUND = 50
DELIVERY = {
    "request_timeout": REQUEST_TIMEOUT,
    "retry_deadline": REQUEST_TIMEOUT,
    "retry_limit": 4,
    "retry_backoff_factor": 0.01,
}
NAMES = ("span event", "log event", "client event")
_LOSS_WARNING = re.compile(r"Mixpanel: (\d+) \w+\(s\) lost \((.+?)\); (\d+) lost")

pytestmark = pytest.mark.slow


class Paths:
    """Span exporter, handler and BackgroundConsumer sized by the constants above."""

    def __init__(
        self,
        server: MixpanelServer,
        queue: int = QUEUE,
        close_timeout: float = 5.0,
        own_consumers: bool = False,
        **delivery: Any,
    ) -> None:
        """``own_consumers``: the exporters build (and at shutdown close) their
        consumers, and every path keeps the default retry count and backoff;
        else the test gives the exporters consumers with small backoffs (which
        they flush but never close).
        """
        token = server.token
        delivery = {**DELIVERY, **delivery}
        self.span_consumer: Any = None
        self.log_consumer: Any = None
        if own_consumers:
            settings = {
                "api_host": server.url,
                "max_batch_size": BATCH,
                "max_buffer": BUFFER,
                "request_timeout": delivery["request_timeout"],
                "retry_deadline": delivery["retry_deadline"],
            }
            self.exporter = MixpanelSpanExporter(token=token, **settings)
            log_exporter = MixpanelLogExporter(token=token, **settings)
        else:
            options: dict[str, Any] = {
                "api_host": server.url,
                "max_size": BATCH,
                "max_buffer": BUFFER,
                **delivery,
            }
            self.span_consumer = BufferedConsumer(**options)
            self.log_consumer = BufferedConsumer(**options)
            self.exporter = MixpanelSpanExporter(
                token=token, consumer=self.span_consumer
            )
            log_exporter = MixpanelLogExporter(token=token, consumer=self.log_consumer)
        self.span_processor = BatchSpanProcessor(
            self.exporter,
            max_queue_size=queue,
            max_export_batch_size=BATCH,
            schedule_delay_millis=50,
        )
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.span_processor)
        self.tracer = self.provider.get_tracer("outage")
        self.handler = MixpanelHandler(
            exporter=log_exporter,
            schedule_delay_millis=50,
            max_export_batch_size=BATCH,
            max_queue_size=queue,
            close_timeout=close_timeout,
        )
        self.logger = logging.getLogger("outage.app")
        self.logger.handlers = [self.handler]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        if own_consumers:  # the same retry count and backoff as the exporters
            delivery.pop("retry_limit")
            delivery.pop("retry_backoff_factor")
        self.background = BackgroundConsumer(
            api_host=server.url,
            max_queue_size=queue,
            max_batch_size=BATCH,
            max_buffer=BUFFER,
            schedule_delay_millis=50,
            **delivery,
        )
        self.client = Mixpanel(token, consumer=self.background)
        self.slowest = dict.fromkeys(NAMES, 0.0)

    def emit(self, name: str, seq: int, suffix: str = "") -> None:
        """One application call on path ``name``; remember the slowest call."""
        event = name + suffix
        started = time.perf_counter()
        if name == "span event":
            attributes = {"mixpanel.event": event, "seq": seq, "user.id": "u"}
            with self.tracer.start_as_current_span("work", attributes=attributes):
                pass
        elif name == "log event":
            self.logger.info(event, extra={"seq": seq, "distinct_id": "u"})
        else:
            self.client.track("u", event, {"seq": seq})
        elapsed = time.perf_counter() - started
        self.slowest[name] = max(self.slowest[name], elapsed)

    def losses(self, name: str) -> Counter[str]:
        counter = {
            "span event": self.exporter.losses,
            "log event": self.handler.losses,
            "client event": self.background.losses,
        }[name]
        return Counter(counter.snapshot())

    def buffered(self) -> dict[str, int]:
        """Messages kept in the exporters' buffers."""
        return {
            "span event": self.span_consumer.pending(),
            "log event": self.log_consumer.pending(),
        }

    def pending(self) -> int:
        """Messages any path still holds."""
        return sum(self.buffered().values()) + self.background.pending()

    def shut_down(self, name: str, timeout: float) -> None:
        """Shut path ``name`` down the way an application does, within ``timeout``."""
        if name == "span event":
            # What TracerProvider.shutdown() runs, with its fixed 30 s: the
            # SDK's inner batch processor takes the timeout.
            inner = self.span_processor._batch_processor
            inner.shutdown(timeout_millis=int(timeout * 1000))
        elif name == "log event":
            self.handler.close()  # built with close_timeout=timeout
        else:
            self.background.close(timeout=timeout)

    def close(self) -> None:
        self.logger.handlers = []
        self.logger.setLevel(logging.NOTSET)
        self.logger.propagate = True
        self.provider.shutdown()
        self.handler.close()
        self.background.close(timeout=2)
        for consumer in (self.span_consumer, self.log_consumer):
            if consumer is not None:
                consumer.close(timeout=2)


@pytest.fixture
def make_paths(mixpanel_server: MixpanelServer) -> Iterator[Callable[..., Paths]]:
    built: list[Paths] = []

    def build(**options: Any) -> Paths:
        paths = Paths(mixpanel_server, **options)
        built.append(paths)
        return paths

    yield build
    mixpanel_server.clear_faults()
    for paths in built:
        paths.close()


class LossWarnings(logging.Handler):
    """Collects the loss warnings of the package's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def loss_warnings() -> Iterator[LossWarnings]:
    handler = LossWarnings()
    logger = logging.getLogger("otel_mixpanel")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def hang_to_down(server: MixpanelServer) -> None:
    """Let held requests go without processing them, then serve normally again."""
    server.drop_rate(1.0)
    server.set_down(True)
    server.resume()
    server.wait_for(lambda s: s.held_requests() == 0)


def run_outage(
    paths: Paths, server: MixpanelServer, on_round: Callable[[], None]
) -> None:
    """Emit PER_PATH events on each path, spread evenly over OUTAGE_SECONDS.

    The first half Mixpanel hangs (requests held), the second half it is down.
    The pacing between rounds is the load's schedule, not a wait for delivery.
    """
    rounds = PER_PATH // ROUND
    interval = OUTAGE_SECONDS / rounds
    pacer = threading.Event()  # never set: its timed wait paces the load
    server.pause()
    start = time.monotonic()
    seq = 0
    for number in range(rounds):
        if number == rounds // 2:
            hang_to_down(server)
        for _ in range(ROUND):
            for name in NAMES:
                paths.emit(name, seq)
            seq += 1
        on_round()
        pacer.wait(max(0.0, start + (number + 1) * interval - time.monotonic()))
    assert seq == PER_PATH


def test_outage_keeps_memory_bounded_calls_free_and_recovers(
    mixpanel_server: MixpanelServer,
    make_paths: Callable[..., Paths],
    loss_warnings: LossWarnings,
) -> None:
    """An outage keeps memory bounded, counts drops, never blocks calls, recovers.

    Memory and held items stay within bounds derived from the configured sizes;
    drops are counted and warned about at a bounded rate with their count;
    delivery resumes by itself once Mixpanel is back. "Never blocked" is a
    bound, not a speed: a call that waited on the network would take at least
    one request timeout (the first half never answers), so every call must
    return within half of it.
    """
    server = mixpanel_server
    paths = make_paths()
    for name in NAMES:  # warm up: connections, caches, first delivery
        paths.emit(name, -1)
    server.wait_for_events(3, timeout=10)
    server.reset()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        held_max: Counter[str] = Counter()

        def sample() -> None:
            for name, held in paths.buffered().items():
                held_max[name] = max(held_max[name], held)

        run_outage(paths, server, sample)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    growth = peak - baseline
    bound = len(NAMES) * HELD_BOUND * BYTES_PER_MESSAGE * 2
    assert growth < bound, f"heap grew {growth} bytes, bound {bound}"
    assert max(held_max.values()) <= BUFFER, held_max

    # No application call waited on delivery.
    assert max(paths.slowest.values()) < REQUEST_TIMEOUT / 2, paths.slowest

    # Drops were counted, and warned about at a bounded rate, each with its count.
    warned: Counter[str] = Counter()
    for message in loss_warnings.messages:
        match = _LOSS_WARNING.search(message)
        if match is not None:
            assert int(match.group(1)) > 0
            warned[match.group(2)] += 1
    assert warned, loss_warnings.messages
    per_reason = len(NAMES) * (math.ceil(OUTAGE_SECONDS / WARNING_INTERVAL) + 1)
    assert max(warned.values()) <= per_reason, warned

    # Mixpanel is back: new events go out and carry what was kept with them.
    server.clear_faults()
    for name in NAMES:
        paths.emit(name, PER_PATH, " after the outage")
    for name in NAMES:
        server.wait_for_events(1, name=name + " after the outage", timeout=10)
    server.wait_for(lambda s: paths.pending() == 0, timeout=10)
    for name in NAMES:
        unique = server.unique_events(name)
        delivered = {event["properties"]["seq"] for event in unique}
        lost = sum(paths.losses(name).values())
        assert len(unique) == len(delivered), f"{name}: an event arrived twice"
        # Nothing counted as lost arrived after all.
        assert len(delivered) + lost <= PER_PATH, (name, len(delivered), lost)
    # BackgroundConsumer sees every drop: what arrived plus what it counted is
    # everything (see test_every_drop_during_an_outage_is_counted for the others).
    background = "client event"
    delivered_count = len(server.unique_events(background))
    assert delivered_count + sum(paths.losses(background).values()) == PER_PATH


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "span event",
            marks=pytest.mark.xfail(
                strict=True,
                reason="spans the SDK's BatchSpanProcessor drops from its full "
                "queue (full while export() waits on Mixpanel) are not counted "
                "in exporter.losses; only the SDK's uncounted warning tells",
            ),
        ),
        "log event",
        "client event",
    ],
)
def test_every_drop_during_an_outage_is_counted(
    mixpanel_server: MixpanelServer, make_paths: Callable[..., Paths], name: str
) -> None:
    """What did not arrive after an outage was counted in the path's losses."""
    server = mixpanel_server
    paths = make_paths(queue=50, request_timeout=0.3, retry_deadline=0.3)
    emitted = 500
    server.pause()  # Mixpanel hangs: the first export waits out its deadline
    for seq in range(emitted):
        paths.emit(name, seq)
    hang_to_down(server)
    server.clear_faults()
    paths.emit(name, emitted, " after the outage")
    server.wait_for_events(1, name=name + " after the outage", timeout=10)
    server.wait_for(lambda s: paths.pending() == 0, timeout=10)
    delivered = len(server.unique_events(name))
    lost = sum(paths.losses(name).values())
    assert delivered + lost == emitted, f"{emitted - delivered - lost} uncounted"


SHUTDOWN_TIMEOUT = 0.5
#: Time allowed past the timeout for the closing thread to end.
SHUTDOWN_MARGIN = 2.0
#: A request in flight at shutdown ends by then (the server drops it at once).
COUNT_WAIT = 1.0
EMITTED = 120


class LossWatch:
    """Wakes a waiter each time a loss counter counts something."""

    def __init__(self, counter: Any) -> None:
        self._counter = counter
        self._condition = threading.Condition()
        count = counter.add

        def add(*args: Any, **kwargs: Any) -> None:
            count(*args, **kwargs)
            with self._condition:
                self._condition.notify_all()

        counter.add = add  # shadows the method on this instance only

    def wait_total(self, total: int, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(
                lambda: self._counter.total >= total, timeout
            )


def shut_down_during_outage(
    server: MixpanelServer, paths: Paths, name: str, mode: str
) -> None:
    """Queue EMITTED events, break Mixpanel, and shut ``name`` down while a
    delivery is in flight; fail unless shutdown returns within its timeout.
    """
    if mode == "hang":
        server.pause()
    else:
        server.set_down(True)
    for seq in range(EMITTED):
        paths.emit(name, seq)
    if mode == "hang":
        server.wait_for(lambda s: s.held_requests() >= 1)
    else:
        server.wait_for(lambda s: any(r.fault == "down" for r in s.requests()))
    closer = threading.Thread(target=paths.shut_down, args=(name, SHUTDOWN_TIMEOUT))
    closer.start()
    closer.join(SHUTDOWN_TIMEOUT + SHUTDOWN_MARGIN)
    assert not closer.is_alive(), "shutdown did not return within its timeout"
    if mode == "hang":
        hang_to_down(server)  # held requests end, unprocessed


def shutdown_paths(make_paths: Callable[..., Paths]) -> Paths:
    """Paths whose exporters own their consumers, as an application's would."""
    return make_paths(
        own_consumers=True,
        close_timeout=SHUTDOWN_TIMEOUT,
        request_timeout=1.0,
        retry_deadline=30.0,
    )


@pytest.mark.parametrize("mode", ["down", "hang"])
@pytest.mark.parametrize("name", NAMES)
def test_shutdown_during_an_outage_returns_within_its_timeout(
    mixpanel_server: MixpanelServer,
    make_paths: Callable[..., Paths],
    name: str,
    mode: str,
) -> None:
    """Shutdown returns within its timeout while Mixpanel is down or hangs."""
    shut_down_during_outage(mixpanel_server, shutdown_paths(make_paths), name, mode)
    assert mixpanel_server.events() == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "span event",
            marks=pytest.mark.xfail(
                strict=True,
                reason="spans still in the SDK's BatchSpanProcessor queue when "
                "its shutdown times out are dropped by the SDK, unseen by the "
                "exporter (what reached the exporter is counted)",
            ),
        ),
        "log event",
        "client event",
    ],
)
def test_shutdown_during_an_outage_counts_and_reports_what_it_could_not_deliver(
    mixpanel_server: MixpanelServer,
    make_paths: Callable[..., Paths],
    loss_warnings: LossWarnings,
    name: str,
) -> None:
    """All a shutdown during an outage could not deliver is counted and warned."""
    # A batch in flight is only known to be lost once its request ends, so its
    # count may come just after shutdown returns: the test waits for it, bounded.
    paths = shutdown_paths(make_paths)
    losses = {
        "span event": paths.exporter.losses,
        "log event": paths.handler.losses,
        "client event": paths.background.losses,
    }[name]
    watch = LossWatch(losses)
    shut_down_during_outage(mixpanel_server, paths, name, "hang")
    watch.wait_total(EMITTED, COUNT_WAIT)
    assert losses.total == EMITTED, losses.snapshot()
    warned = [
        int(match.group(1))
        for match in map(_LOSS_WARNING.search, loss_warnings.messages)
        if match is not None
    ]
    assert warned
    assert 0 < sum(warned) <= EMITTED
