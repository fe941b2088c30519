"""BufferedConsumer: batching per endpoint, bounds, threads and fork, over HTTP."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

from otel_mixpanel import BufferedConsumer, Consumer, MixpanelException
from otel_mixpanel.testing import MixpanelServer

TOKEN = "test-token"


def event(name: str, insert_id: str) -> str:
    return json.dumps(
        {
            "event": name,
            "properties": {
                "token": TOKEN,
                "distinct_id": "user-1",
                "time": int(time.time() * 1000),
                "$insert_id": insert_id,
            },
        }
    )


def buffered(server: MixpanelServer, **kwargs: object) -> BufferedConsumer:
    settings: dict[str, object] = {
        "api_host": server.url,
        "retry_backoff_factor": 0.01,
        "request_timeout": 2.0,
        "retry_deadline": 5.0,
    }
    settings.update(kwargs)
    return BufferedConsumer(**settings)  # type: ignore[arg-type]


@pytest.fixture
def server(mixpanel_server: MixpanelServer) -> MixpanelServer:
    return mixpanel_server


def test_default_batch_is_2000_and_capped(server: MixpanelServer) -> None:
    """The default batch is Mixpanel's 2,000 and larger sizes are capped."""
    assert buffered(server).max_size == 2000
    assert buffered(server, max_size=5000).max_size == 2000


def test_sends_when_full_and_on_flush(server: MixpanelServer) -> None:
    """A full buffer is sent at once; the rest waits for flush."""
    consumer = buffered(server, max_size=3)
    for i in range(4):
        consumer.send("events", event("E", f"f{i}"))
    assert len(server.events()) == 3
    consumer.flush()
    assert len(server.events()) == 4
    assert [r.records for r in server.requests()] == [3, 1]


def test_one_request_per_2000_events(server: MixpanelServer) -> None:
    """5,000 events go out in three requests."""
    consumer = buffered(server)
    for i in range(5000):
        consumer.send("events", event("E", f"n{i}"))
    consumer.flush()
    assert len(server.requests()) == 3
    assert len(server.unique_events()) == 5000


def test_endpoints_keep_their_own_credentials(server: MixpanelServer) -> None:
    """Import credentials stay on /import and never reach /track."""
    consumer = buffered(server)
    consumer.send("imports", event("Imported", "c1"), api_secret="test-api-secret")
    consumer.send("events", event("Tracked", "c2"))
    consumer.flush()
    by_path = {r.path: r for r in server.requests()}
    assert "authorization" not in by_path["/track"].headers
    assert by_path["/import"].status == 200
    assert len(server.events()) == 2


def test_delivered_batches_are_not_resent(server: MixpanelServer) -> None:
    """When a later batch of a flush fails, earlier batches are not sent again."""
    calls = []

    class FailSecondBatch(Consumer):
        def deliver(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 2:
                server.fail_next(1, status=503)
            return super().deliver(*args, **kwargs)

    inner = FailSecondBatch(api_host=server.url, retry_limit=0)
    consumer = BufferedConsumer(max_size=2, consumer=inner)
    with pytest.raises(MixpanelException):
        consumer.send_many("events", [event("E", f"x{i}") for i in range(6)])
    assert len(server.events()) == 2
    assert consumer.pending() == 4
    consumer.flush()
    ids = [e["properties"]["$insert_id"] for e in server.events()]
    assert sorted(ids) == [f"x{i}" for i in range(6)]


def _set(distinct_id: str) -> str:
    return json.dumps({"$token": TOKEN, "$distinct_id": distinct_id, "$set": {}})


def test_failed_flush_keeps_batch_and_reports_it(server: MixpanelServer) -> None:
    """A failed flush raises with the batch and endpoint; the next flush sends it."""
    consumer = buffered(server, retry_limit=0)
    consumer.send("events", event("E", "k1"))
    server.fail_next(1, status=503)
    with pytest.raises(MixpanelException) as caught:
        consumer.flush()
    assert caught.value.endpoint == "events"
    assert caught.value.message is not None
    assert json.loads(caught.value.message)[0]["properties"]["$insert_id"] == "k1"
    assert consumer.pending() == 1
    consumer.flush()
    assert len(server.events()) == 1
    assert consumer.pending() == 0


def test_buffer_bound_drops_oldest_and_counts(server: MixpanelServer) -> None:
    """Beyond max_buffer the oldest messages are dropped and counted."""
    server.set_down(True)
    consumer = buffered(server, max_size=10, max_buffer=25, retry_limit=0)
    for i in range(40):
        try:
            consumer.send("events", event("E", f"b{i}"))
        except MixpanelException:
            pass
    assert consumer.pending() <= 25
    assert consumer.losses.total == 40 - consumer.pending()
    server.set_down(False)
    consumer.flush()
    ids = [e["properties"]["$insert_id"] for e in server.events()]
    assert ids[-1] == "b39"
    assert "b0" not in ids


def test_drops_are_warned_about_at_a_bounded_rate(
    server: MixpanelServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Many drops produce one warning with a count, not one per message."""
    server.set_down(True)
    consumer = buffered(server, max_size=5, max_buffer=5, retry_limit=0)
    with caplog.at_level("WARNING", logger="otel_mixpanel"):
        for i in range(50):
            try:
                consumer.send("events", event("E", f"w{i}"))
            except MixpanelException:
                pass
    warnings = [r for r in caplog.records if "lost" in r.getMessage()]
    assert 1 <= len(warnings) <= 2
    assert "test-token" not in caplog.text


def test_refused_batch_is_counted_and_later_batches_go_out(
    server: MixpanelServer,
) -> None:
    """A batch Mixpanel refuses is reported and dropped; later ones still go."""
    consumer = buffered(server, max_size=2)
    bad = json.dumps({"event": "Bad", "properties": {"token": "wrong"}})
    with pytest.raises(MixpanelException, match="refused") as caught:
        consumer.send_many("events", [bad, event("Lost", "l1"), event("G", "g1")])
    assert caught.value.endpoint == "events"
    consumer.flush()
    assert [e["event"] for e in server.events()] == ["G"]
    assert consumer.losses.total == 2
    assert consumer.pending() == 0


def test_eight_threads_lose_and_duplicate_nothing(server: MixpanelServer) -> None:
    """8 threads sending at once: every event arrives exactly once."""
    consumer = buffered(server, max_size=50)
    barrier = threading.Barrier(8)

    def work(thread: int) -> None:
        barrier.wait()
        for i in range(500):
            consumer.send("events", event("T", f"t{thread}-{i}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    consumer.flush()
    ids = [e["properties"]["$insert_id"] for e in server.events()]
    assert len(ids) == 4000
    assert len(set(ids)) == 4000


def test_flush_timeout_keeps_unsent(server: MixpanelServer) -> None:
    """flush(timeout) returns by its timeout and keeps what it could not send."""
    server.set_down(True)
    consumer = buffered(server, retry_limit=100, retry_deadline=60)
    consumer.send("events", event("E", "to1"))
    with pytest.raises(MixpanelException):
        consumer.flush(timeout=0.3)
    assert consumer.pending() == 1


def test_context_manager_flushes(server: MixpanelServer) -> None:
    """Leaving the with block sends what is buffered."""
    with buffered(server) as consumer:
        consumer.send("events", event("E", "cm"))
    assert len(server.events()) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_after_fork_sends_its_own_and_not_the_parents(
    server: MixpanelServer,
) -> None:
    """A forked child gets a working consumer without the parent's buffer."""
    consumer = buffered(server)
    consumer.send("events", event("Parent", "p1"))
    consumer.flush()
    consumer.send("events", event("Parent", "p2"))
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            consumer.send("events", event("Child", "c1"))
            consumer.flush()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    consumer.flush()
    names = sorted(e["properties"]["$insert_id"] for e in server.events())
    assert names == ["c1", "p1", "p2"]


def test_flush_can_limit_its_retries(server: MixpanelServer) -> None:
    """flush(retries=0) makes one attempt per batch and keeps what failed."""
    consumer = buffered(server, retry_limit=5)
    consumer.send("events", event("E", "r0"))
    server.fail_next(1, status=503)
    with pytest.raises(MixpanelException):
        consumer.flush(retries=0)
    assert len(server.requests()) == 1
    assert consumer.pending() == 1
    consumer.flush()
    assert len(server.events()) == 1
