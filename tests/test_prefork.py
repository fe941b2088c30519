"""Prefork servers: an exporter and a handler built before ``fork`` work in children.

The parent holds undelivered spans and log records (in the SDK queues, the
span exporter's buffer, or in flight) when it forks 4 children: every child's
events arrive, and what the parent held is sent once, by the parent only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mixpanel import MixpanelHandler, MixpanelSpanExporter
from otel_mixpanel.testing import MixpanelServer

CHILDREN = 4
PER_CHILD = 25
PARENT_BEFORE = 10  # per path, held by the parent when it forks
CHILD_TIMEOUT = 15.0

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns about forking a process that runs threads.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


class App:
    """What a prefork server builds at import: tracing and logging to Mixpanel."""

    def __init__(self, server: MixpanelServer) -> None:
        options = {
            "token": server.token,
            "api_host": server.url,
            "retry_deadline": 2.0,
            "request_timeout": 2.0,
        }
        self.exporter = MixpanelSpanExporter(**options)
        self.provider = TracerProvider()
        # A long delay: spans ended before the fork are still queued at the fork.
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, schedule_delay_millis=60_000)
        )
        self.tracer = self.provider.get_tracer("prefork")
        # Likewise: records logged before the fork are still queued at the fork.
        self.handler = MixpanelHandler(schedule_delay_millis=60_000, **options)
        self.logger = logging.getLogger("prefork.app")
        self.logger.handlers = [self.handler]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def emit(self, who: str, seq: int) -> None:
        """One span event and one log event from ``who``."""
        attributes = {"mixpanel.event": f"{who} span", "seq": seq, "user.id": who}
        with self.tracer.start_as_current_span("work", attributes=attributes):
            pass
        self.logger.info(f"{who} log", extra={"seq": seq, "distinct_id": who})

    def shut_down(self) -> bool:
        """Deliver everything and stop; True when nothing was lost."""
        self.provider.shutdown()
        self.handler.close()
        return self.exporter.losses.total == 0 and self.handler.losses.total == 0

    def detach(self) -> None:
        self.logger.handlers = []
        self.logger.setLevel(logging.NOTSET)
        self.logger.propagate = True


@pytest.fixture
def make_app(mixpanel_server: MixpanelServer) -> Iterator[Callable[..., App]]:
    built: list[App] = []

    def build(**options: Any) -> App:
        app = App(mixpanel_server, **options)
        built.append(app)
        return app

    yield build
    for app in built:
        app.detach()
        app.shut_down()


def child_main(app: App, number: int) -> int:  # pragma: no cover - in children
    """A child's work: its own events, then a clean shutdown."""
    for seq in range(PER_CHILD):
        app.emit(f"child-{number}", seq)
    return 0 if app.shut_down() else 1


def run_with_os_fork(app: App) -> list[int]:
    """Fork CHILDREN children with os.fork; return their exit codes."""
    pids = []
    for number in range(CHILDREN):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 2
            try:
                code = child_main(app, number)
            finally:
                os._exit(code)
        pids.append(pid)
    return [wait_child(pid) for pid in pids]


def wait_child(pid: int) -> int:
    """Wait for one forked child, killing it if it outlives CHILD_TIMEOUT."""
    status: list[int] = []
    waiter = threading.Thread(target=lambda: status.append(os.waitpid(pid, 0)[1]))
    waiter.start()
    waiter.join(CHILD_TIMEOUT)
    if waiter.is_alive():
        os.kill(pid, signal.SIGKILL)
        waiter.join()
        return -1
    return os.waitstatus_to_exitcode(status[0])


def _mp_child(app: App, number: int) -> None:  # pragma: no cover - in the child
    raise SystemExit(child_main(app, number))


def run_with_multiprocessing(app: App) -> list[int]:
    """Start CHILDREN processes with the "fork" start method; return exit codes."""
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_mp_child, args=(app, number))
        for number in range(CHILDREN)
    ]
    for process in processes:
        process.start()
    codes = []
    for process in processes:
        process.join(CHILD_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
        codes.append(process.exitcode)
    return codes


def expected_events(parent: int) -> Counter[tuple[str, int]]:
    """(event name, seq) of every event: ``parent`` per path from the parent."""
    expected: Counter[tuple[str, int]] = Counter()
    for who in ["parent"] + [f"child-{n}" for n in range(CHILDREN)]:
        count = parent if who == "parent" else PER_CHILD
        for kind in ("span", "log"):
            expected.update((f"{who} {kind}", seq) for seq in range(count))
    return expected


def check_delivery(server: MixpanelServer, parent: int) -> None:
    """Every event arrived, and no event was sent twice (no faults: no resends)."""
    events = server.events()
    arrived = Counter((e["event"], e["properties"]["seq"]) for e in events)
    assert arrived == expected_events(parent)
    insert_ids = Counter(e["properties"]["$insert_id"] for e in events)
    assert max(insert_ids.values()) == 1, "an event was sent twice"


@pytest.mark.parametrize(
    "fork", [run_with_os_fork, run_with_multiprocessing], ids=["os.fork", "mp-fork"]
)
def test_children_deliver_their_events_and_the_parent_s_are_sent_once(
    mixpanel_server: MixpanelServer,
    make_app: Callable[..., App],
    fork: Callable[[App], list[int]],
) -> None:
    """4 forked children deliver their events; what the parent held goes out once."""
    # The parent holds events in the span exporter's buffer and in both SDK
    # queues at the fork; only the parent may send them.
    server = mixpanel_server
    app = make_app()
    half = PARENT_BEFORE // 2
    # In the span exporter's buffer: its delivery failed while Mixpanel was down.
    server.set_down(True)
    for seq in range(half):
        app.emit("parent", seq)
    app.provider.force_flush()  # fails: the spans stay in the exporter's buffer
    server.set_down(False)
    # In the SDK queues: their processors' delay has not passed yet.
    for seq in range(half, PARENT_BEFORE):
        app.emit("parent", seq)

    assert fork(app) == [0] * CHILDREN
    assert app.shut_down()
    check_delivery(server, PARENT_BEFORE)


def test_fork_while_the_parent_is_delivering(
    mixpanel_server: MixpanelServer, make_app: Callable[..., App]
) -> None:
    """Children forked during the parent's deliveries (locks held) still deliver."""
    server = mixpanel_server
    app = make_app()
    server.stall_next(2, 1.0)  # the parent's two requests: accepted, answered late
    for seq in range(PARENT_BEFORE):
        app.emit("parent", seq)
    # Deliver on other threads, as the processors' workers would at that moment.
    flushers = [
        threading.Thread(target=app.provider.force_flush),
        threading.Thread(target=app.handler._processor.force_flush),
    ]
    for flusher in flushers:
        flusher.start()
    server.wait_for(lambda s: sum(r.fault == "stall" for r in s.requests()) == 2)

    codes = run_with_os_fork(app)
    for flusher in flushers:
        flusher.join(CHILD_TIMEOUT)
    assert codes == [0] * CHILDREN
    assert app.shut_down()
    check_delivery(server, PARENT_BEFORE)
