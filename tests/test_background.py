"""BackgroundConsumer: enqueue-only sends, bounds, flush, exit and fork, over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests

from otel_mixpanel import BackgroundConsumer, Consumer, Mixpanel, MixpanelException
from otel_mixpanel.testing import MixpanelServer

TOKEN = "test-token"
Make = Callable[..., BackgroundConsumer]


@pytest.fixture
def server(mixpanel_server: MixpanelServer) -> MixpanelServer:
    return mixpanel_server


@pytest.fixture
def make(server: MixpanelServer) -> Iterator[Make]:
    """Build consumers pointed at the server; close them (briefly) afterwards."""
    made: list[BackgroundConsumer] = []

    def build(**kwargs: Any) -> BackgroundConsumer:
        settings: dict[str, Any] = {
            "api_host": server.url,
            "schedule_delay_millis": 20,
            "retry_backoff_factor": 0.01,
            "request_timeout": 2.0,
            "retry_deadline": 5.0,
        }
        settings.update(kwargs)
        consumer = BackgroundConsumer(**settings)
        made.append(consumer)
        return consumer

    yield build
    for consumer in made:
        consumer.close(timeout=1.0)


def test_track_returns_while_the_server_holds_requests(
    server: MixpanelServer, make: Make
) -> None:
    """track returns while delivery is stuck; the events arrive on resume."""
    server.pause()
    client = Mixpanel(TOKEN, consumer=make())
    client.track("user-1", "first")
    server.wait_for(lambda s: s.held_requests() >= 1, timeout=5)
    client.track("user-1", "second")
    assert server.held_requests() >= 1
    assert server.events() == []
    server.resume()
    events = server.wait_for_events(2, timeout=5)
    assert sorted(e["event"] for e in events) == ["first", "second"]


def test_eight_threads_lose_and_duplicate_nothing(
    server: MixpanelServer, make: Make
) -> None:
    """8 threads tracking at once: every event arrives exactly once."""
    consumer = make()
    client = Mixpanel(TOKEN, consumer=consumer)
    per_thread = 200
    start = threading.Barrier(8)

    def work(number: int) -> None:
        start.wait()
        for i in range(per_thread):
            client.track(f"user-{number}", "threaded", {"thread": number, "i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert consumer.flush(timeout=10)
    seen = [(e["properties"]["thread"], e["properties"]["i"]) for e in server.events()]
    assert len(seen) == 8 * per_thread
    assert set(seen) == {(n, i) for n in range(8) for i in range(per_thread)}
    assert consumer.losses.total == 0
    assert consumer.pending() == 0


def test_full_queue_drops_the_oldest_and_counts_them(
    server: MixpanelServer, make: Make
) -> None:
    """Beyond max_queue_size the oldest go, counted; the newest are delivered."""
    server.pause()
    consumer = make(max_queue_size=10)
    client = Mixpanel(TOKEN, consumer=consumer)
    for i in range(100):
        client.track("user-1", "queued", {"i": i})
    server.resume()
    assert consumer.flush(timeout=10)
    delivered = [e["properties"]["i"] for e in server.events("queued")]
    dropped = consumer.losses.snapshot().get("queue full", 0)
    assert len(delivered) == len(set(delivered))
    assert len(delivered) + dropped == 100
    assert set(range(90, 100)) <= set(delivered)
    assert dropped >= 80


def test_flush_returns_false_when_the_server_is_down(
    server: MixpanelServer, make: Make
) -> None:
    """flush gives up by its timeout while Mixpanel is down, then delivers later."""
    consumer = make()
    client = Mixpanel(TOKEN, consumer=consumer)
    server.set_down(True)
    client.track("user-1", "during outage")
    assert consumer.flush(timeout=1.0) is False
    assert consumer.pending() == 1
    server.set_down(False)
    assert consumer.flush(timeout=5.0) is True
    assert [e["event"] for e in server.events()] == ["during outage"]


def test_flush_returns_false_when_the_server_stalls(
    server: MixpanelServer, make: Make
) -> None:
    """flush returns False by its timeout while a request hangs."""
    consumer = make(schedule_delay_millis=60_000)
    client = Mixpanel(TOKEN, consumer=consumer)
    server.pause()
    client.track("user-1", "stalled")
    assert consumer.flush(timeout=0.5) is False
    server.resume()
    assert consumer.flush(timeout=5.0) is True
    assert len(server.unique_events("stalled")) == 1


def test_messages_are_delivered_exactly_as_the_client_built_them(
    server: MixpanelServer, make: Make
) -> None:
    """The consumer only transports strings: what the client sends arrives."""
    sent: list[tuple[str, str]] = []

    class Recording(BackgroundConsumer):
        def send(self, endpoint: str, json_message: str, *args: Any) -> None:
            sent.append((endpoint, json_message))
            super().send(endpoint, json_message, *args)

    consumer = Recording(api_host=server.url, schedule_delay_millis=20)
    client = Mixpanel(TOKEN, consumer=consumer)
    client.track("user-1", "Signed up", {"plan": "pro", "seats": 3})
    client.people_set("user-1", {"name": "Ada"})
    client.group_set("company", "acme", {"size": 10})
    assert consumer.flush(timeout=5)
    consumer.close()
    received = {
        "events": server.events(),
        "people": server.people(),
        "groups": server.groups(),
    }
    for endpoint, message in sent:
        assert received[endpoint] == [json.loads(message)]


def test_alias_merge_people_and_group_calls_work(
    server: MixpanelServer, make: Make
) -> None:
    """alias goes out at once (sync_consumer); merge, profiles, groups queue."""
    consumer = make(schedule_delay_millis=60_000)
    client = Mixpanel(TOKEN, consumer=consumer)
    client.alias("alias-1", "user-1")
    assert [e["event"] for e in server.events()] == ["$create_alias"]
    client.merge(None, "user-1", "user-2")
    client.people_increment("user-1", {"logins": 1})
    client.group_union("company", "acme", {"tags": ["a"]})
    client.import_data(
        None, "user-1", "Old", 1_700_000_000, api_secret=server.api_secret
    )
    assert consumer.flush(timeout=5)
    names = sorted(e["event"] for e in server.events())
    assert names == ["$create_alias", "$merge", "Old"]
    assert len(server.people()) == 1
    assert len(server.groups()) == 1


def test_sync_consumer_sends_at_once_to_the_same_endpoints(make: Make) -> None:
    """sync_consumer() is a plain Consumer with the background one's endpoints."""
    consumer = make()
    sync = consumer.sync_consumer()
    assert isinstance(sync, Consumer)
    assert sync.endpoints["events"].endswith("/track")


def test_unknown_endpoint_and_non_string_raise(make: Make) -> None:
    """send names a bad endpoint, and refuses a message that is not a string."""
    consumer = make()
    with pytest.raises(MixpanelException, match="No such endpoint 'tracks'"):
        consumer.send("tracks", "{}")
    with pytest.raises(MixpanelException, match="JSON string"):
        consumer.send("events", {"event": "x"})  # type: ignore[arg-type]
    assert consumer.pending() == 0


def test_send_after_close_is_counted_as_lost(make: Make) -> None:
    """After close, a send is dropped and counted, not raised."""
    consumer = make()
    consumer.close()
    consumer.send("events", json.dumps({"event": "late", "properties": {}}))
    assert consumer.losses.snapshot() == {"sent after close": 1}


def test_settings_come_from_the_environment_without_a_token(
    mixpanel_env: MixpanelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIXPANEL_API_HOST is read; no MIXPANEL_TOKEN is needed."""
    monkeypatch.delenv("MIXPANEL_TOKEN")
    consumer = BackgroundConsumer(schedule_delay_millis=20)
    client = Mixpanel(TOKEN, consumer=consumer)
    client.track("user-1", "from env")
    assert consumer.flush(timeout=5)
    consumer.close()
    assert [e["event"] for e in mixpanel_env.events()] == ["from env"]


def test_delivery_is_not_traced_by_instrumented_requests(
    server: MixpanelServer, make: Make
) -> None:
    """Neither the worker's nor flush's requests become spans; the app's do."""
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    RequestsInstrumentor().instrument(tracer_provider=provider)
    try:
        consumer = make()
        client = Mixpanel(TOKEN, consumer=consumer)
        client.track("user-1", "by the worker")
        server.wait_for_events(1, timeout=5)
        client.track("user-1", "by flush")
        assert consumer.flush(timeout=5)
        server.set_down(True)
        client.track("user-1", "left over")
        assert consumer.flush(timeout=1) is False
        server.set_down(False)
        assert consumer.flush(timeout=5)
        requests.get(server.url + "/health", timeout=5)
    finally:
        RequestsInstrumentor().uninstrument()
    assert len(server.events()) == 3
    assert [span.name for span in spans.get_finished_spans()] == ["GET"]


EXIT_SCRIPT = """
import sys
from otel_mixpanel import BackgroundConsumer, Mixpanel
consumer = BackgroundConsumer(
    api_host=sys.argv[1],
    schedule_delay_millis=60_000,
    retry_backoff_factor=0.01,
    exit_timeout=float(sys.argv[2]),
)
client = Mixpanel("test-token", consumer=consumer)
for i in range(5):
    client.track("exit-user", "queued at exit", {"i": i})
"""


def run_exit_script(server: MixpanelServer, exit_timeout: float) -> str:
    """Run a script that tracks and exits without flushing; return its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIXPANEL_")}
    finished = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, server.url, str(exit_timeout)],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stderr


def test_exit_delivers_what_is_queued(server: MixpanelServer) -> None:
    """Events queued when the interpreter exits are delivered before it ends."""
    run_exit_script(server, 5.0)
    events = server.wait_for_events(5, timeout=5)
    assert sorted(e["properties"]["i"] for e in events) == list(range(5))


def test_exit_is_prompt_when_the_server_is_down(server: MixpanelServer) -> None:
    """With Mixpanel down the process still exits, counting what it lost."""
    server.set_down(True)
    stderr = run_exit_script(server, 1.0)
    assert "undelivered at close" in stderr


def test_exit_is_prompt_when_the_server_hangs(server: MixpanelServer) -> None:
    """With every request held the process still exits within its bound."""
    server.pause()
    stderr = run_exit_script(server, 1.0)
    assert "undelivered at close" in stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_sends_only_its_own_events(
    server: MixpanelServer, make: Make
) -> None:
    """A child forked with a queue sends its events; the parent's go out once."""
    consumer = make(schedule_delay_millis=60_000)
    client = Mixpanel(TOKEN, consumer=consumer)
    for i in range(3):
        client.track("parent", "before fork", {"i": i})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            client.track("child", "in child")
            code = 0 if consumer.flush(timeout=10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert consumer.flush(timeout=10)
    names = sorted(e["event"] for e in server.events())
    assert names == ["before fork"] * 3 + ["in child"]
