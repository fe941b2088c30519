"""20,000 events through three paths while Mixpanel fails, throttles, drops and stalls.

The span exporter, the ``logging`` handler and ``BackgroundConsumer`` each carry
about a third, concurrently, against the local server with injected faults:
every event arrives, none counts twice, no non-idempotent update lands twice.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

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
from otel_mixpanel.testing import MixpanelServer

SPANS = 7000
LOG_RECORDS = 7000
CLIENT_EVENTS = 6000
TOTAL = SPANS + LOG_RECORDS + CLIENT_EVENTS
#: Every PROFILE_EVERY-th record also carries profile updates.
PROFILE_EVERY = 50
#: Client-side bound of one request; stalled replies come later than this.
REQUEST_TIMEOUT = 0.5
STALL_SECONDS = 1.0
#: Generous: with 37% of attempts failing, 40 retries in a row never all fail.
DELIVERY = {
    "request_timeout": REQUEST_TIMEOUT,
    "retry_limit": 40,
    "retry_backoff_factor": 0.01,
    "retry_deadline": 60.0,
}
QUEUE = 8192  # the SDK queues hold a whole third at once: nothing is dropped there
UNKNOWN_OUTCOME = "not resent after an unknown outcome on people"
DELIVERY_TIMEOUT = 120.0
JOIN_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


class Paths:
    """The three delivery paths, aimed at one server, with fault-tolerant settings."""

    def __init__(self, server: MixpanelServer) -> None:
        token = server.token
        self.span_consumer = BufferedConsumer(api_host=server.url, **DELIVERY)
        self.exporter = MixpanelSpanExporter(token=token, consumer=self.span_consumer)
        self.provider = TracerProvider()
        self.provider.add_span_processor(
            BatchSpanProcessor(
                self.exporter, max_queue_size=QUEUE, schedule_delay_millis=50
            )
        )
        self.tracer = self.provider.get_tracer("faults")
        self.log_consumer = BufferedConsumer(api_host=server.url, **DELIVERY)
        self.handler = MixpanelHandler(
            exporter=MixpanelLogExporter(token=token, consumer=self.log_consumer),
            schedule_delay_millis=50,
            max_queue_size=QUEUE,
        )
        self.logger = logging.getLogger("faults.app")
        self.logger.handlers = [self.handler]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.background = BackgroundConsumer(
            api_host=server.url, schedule_delay_millis=50, **DELIVERY
        )
        self.client = Mixpanel(token, consumer=self.background)

    def losses(self) -> Counter[str]:
        """All three loss counters added up, by reason."""
        total: Counter[str] = Counter()
        for counter in (
            self.exporter.losses,
            self.handler.losses,
            self.background.losses,
        ):
            total.update(counter.snapshot())
        return total

    def close(self) -> None:
        self.logger.handlers = []
        self.logger.setLevel(logging.NOTSET)
        self.logger.propagate = True
        self.provider.shutdown()
        self.handler.close()
        self.background.close(timeout=5)
        self.span_consumer.close(timeout=5)
        self.log_consumer.close(timeout=5)


@pytest.fixture
def paths(mixpanel_server: MixpanelServer) -> Iterator[Paths]:
    built = Paths(mixpanel_server)
    yield built
    mixpanel_server.clear_faults()
    built.close()


def emit_spans(paths: Paths) -> None:
    """Spans marked as events; some also increment and set profile properties."""
    for seq in range(SPANS):
        attributes: dict[str, Any] = {
            "mixpanel.event": "span event",
            "user.id": f"user-{seq % 50}",
            "seq": seq,
        }
        if seq % PROFILE_EVERY == 0:
            attributes[f"mixpanel.people.increment.span_{seq}"] = 1
            attributes[f"mixpanel.people.set.seen_{seq}"] = True
        with paths.tracer.start_as_current_span("work", attributes=attributes):
            pass


def emit_log_records(paths: Paths) -> None:
    """Log records through the handler; some also append to a profile list."""
    for seq in range(LOG_RECORDS):
        extra: dict[str, Any] = {"seq": seq, "distinct_id": f"user-{seq % 50}"}
        if seq % PROFILE_EVERY == 0:
            extra[f"mixpanel.people.append.log_{seq}"] = seq
        paths.logger.info("log event", extra=extra)


def emit_client_calls(paths: Paths) -> None:
    """Direct client calls through BackgroundConsumer, profile updates included."""
    for seq in range(CLIENT_EVENTS):
        user = f"user-{seq % 50}"
        paths.client.track(user, "client event", {"seq": seq})
        if seq % PROFILE_EVERY == 0:
            paths.client.people_increment(user, {f"client_{seq}": 1})
            paths.client.people_append(user, {f"client_list_{seq}": seq})


def non_idempotent_keys() -> set[str]:
    """The property names of every $add and $append update the test issues."""
    keys: set[str] = set()
    for seq in range(0, SPANS, PROFILE_EVERY):
        keys.add(f"span_{seq}")
    for seq in range(0, LOG_RECORDS, PROFILE_EVERY):
        keys.add(f"log_{seq}")
    for seq in range(0, CLIENT_EVENTS, PROFILE_EVERY):
        keys.update({f"client_{seq}", f"client_list_{seq}"})
    return keys


def inject_faults(server: MixpanelServer) -> None:
    """30% of requests 503, 10% of connections dropped, 429 bursts, some stalls."""
    server.fail_rate(0.3, status=503, seed=7)
    server.drop_rate(0.1, seed=11)
    server.fail_next(6, status=429, retry_after=0.2)
    server.stall_next(2, STALL_SECONDS)


def run_in_threads(*targets: Any) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive(), "an application thread did not finish"


def test_twenty_thousand_events_survive_every_fault(
    mixpanel_server: MixpanelServer, paths: Paths
) -> None:
    """Under 503s, 429 bursts, drops and stalls all 20,000 events arrive once each."""
    server = mixpanel_server
    inject_faults(server)

    def more_faults_midway() -> None:
        server.wait_for_events(TOTAL // 3, timeout=DELIVERY_TIMEOUT, unique=True)
        server.fail_next(6, status=429, retry_after=0.2)
        server.stall_next(2, STALL_SECONDS)

    run_in_threads(
        lambda: emit_spans(paths),
        lambda: emit_log_records(paths),
        lambda: emit_client_calls(paths),
        more_faults_midway,
    )
    unique = server.wait_for_events(TOTAL, timeout=DELIVERY_TIMEOUT, unique=True)

    # Every event arrived; deduplicated by $insert_id none counts twice.
    arrived = Counter((event["event"], event["properties"]["seq"]) for event in unique)
    expected = (
        [("span event", seq) for seq in range(SPANS)]
        + [("log event", seq) for seq in range(LOG_RECORDS)]
        + [("client event", seq) for seq in range(CLIENT_EVENTS)]
    )
    assert arrived == Counter(expected)
    insert_ids = Counter(event["properties"]["$insert_id"] for event in unique)
    assert len(insert_ids) == TOTAL
    assert len(server.events()) >= TOTAL  # resent copies exist, deduplicated above

    # The faults really happened.
    seen = Counter((request.status, request.fault) for request in server.requests())
    assert seen[(503, "fail")] > 0
    assert seen[(429, "fail")] >= 12
    assert seen[(0, "drop")] > 0
    assert sum(count for (_, fault), count in seen.items() if fault == "stall") == 4

    # Profile updates: $set arrives; $add/$append never land twice, and every
    # one that did not land is counted as "not resent after an unknown outcome".
    assert paths.provider.force_flush()
    assert paths.background.flush(timeout=DELIVERY_TIMEOUT)
    paths.handler.close()
    people = server.people()
    applied: Counter[str] = Counter()
    seen_set: set[str] = set()
    for update in people:
        for operation in ("$add", "$append"):
            applied.update(update.get(operation, {}).keys())
        seen_set.update(update.get("$set", {}).keys())
    issued = non_idempotent_keys()
    assert set(applied) <= issued
    assert max(applied.values()) == 1, "a non-idempotent update was applied twice"
    assert seen_set == {f"seen_{seq}" for seq in range(0, SPANS, PROFILE_EVERY)}
    losses = paths.losses()
    assert set(losses) <= {UNKNOWN_OUTCOME}, losses
    assert len(applied) + losses[UNKNOWN_OUTCOME] >= len(issued)
