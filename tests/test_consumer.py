"""The one-request-per-call Consumer, over real HTTP against the local server."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from otel_mixpanel import Consumer, MixpanelException, ServiceAccountCredentials
from otel_mixpanel.testing import MixpanelServer

TOKEN = "test-token"


def event(name: str, insert_id: str, **properties: object) -> str:
    props = {
        "token": TOKEN,
        "distinct_id": "user-1",
        "time": int(time.time() * 1000),
        "$insert_id": insert_id,
    }
    props.update(properties)
    return json.dumps({"event": name, "properties": props})


def fast_consumer(server: MixpanelServer, **kwargs: object) -> Consumer:
    settings: dict[str, object] = {
        "api_host": server.url,
        "retry_backoff_factor": 0.01,
        "request_timeout": 2.0,
        "retry_deadline": 10.0,
    }
    settings.update(kwargs)
    return Consumer(**settings)  # type: ignore[arg-type]


@pytest.fixture
def server(mixpanel_server: MixpanelServer) -> MixpanelServer:
    return mixpanel_server


def test_api_host_base_url_routes_every_endpoint(server: MixpanelServer) -> None:
    """A base URL as api_host sends each endpoint to that server."""
    consumer = fast_consumer(server)
    assert consumer.endpoints == {
        "events": server.url + "/track",
        "people": server.url + "/engage",
        "groups": server.url + "/groups",
        "imports": server.url + "/import",
    }
    consumer.send("events", event("Signed Up", "a1"))
    consumer.send(
        "people",
        json.dumps({"$token": TOKEN, "$distinct_id": "u", "$set": {"plan": "pro"}}),
    )
    consumer.send(
        "groups",
        json.dumps(
            {"$token": TOKEN, "$group_key": "company", "$group_id": "c", "$set": {}}
        ),
    )
    assert [e["event"] for e in server.events()] == ["Signed Up"]
    assert server.people()[0]["$set"] == {"plan": "pro"}
    assert server.groups()[0]["$group_id"] == "c"


def test_bare_host_implies_https_and_explicit_urls_win() -> None:
    """A bare host gets https; explicit per-endpoint URLs override it."""
    consumer = Consumer(api_host="api-eu.mixpanel.com", events_url="http://x/track")
    assert consumer.endpoints["people"] == "https://api-eu.mixpanel.com/engage"
    assert consumer.endpoints["events"] == "http://x/track"


def test_unknown_endpoint_is_a_clear_error(server: MixpanelServer) -> None:
    """An unknown endpoint name raises and names the valid ones."""
    with pytest.raises(MixpanelException, match="No such endpoint 'evnts'"):
        fast_consumer(server).send("evnts", "{}")


def test_user_agent_names_the_library(server: MixpanelServer) -> None:
    """Requests carry a User-Agent naming this library and its version."""
    from otel_mixpanel import __version__

    fast_consumer(server).send("events", event("E", "ua1"))
    agent = server.requests()[0].headers["user-agent"]
    assert agent.startswith(f"otel-mixpanel/{__version__}")


def test_retries_503_then_succeeds(server: MixpanelServer) -> None:
    """503 replies are retried until the server takes the data."""
    server.fail_next(2, status=503)
    fast_consumer(server).send("events", event("E", "r1"))
    assert len(server.events()) == 1
    assert [r.status for r in server.requests()] == [503, 503, 200]


@pytest.mark.parametrize("status", [429, 502, 504])
def test_other_retryable_statuses(server: MixpanelServer, status: int) -> None:
    """429, 502 and 504 are retried too."""
    server.fail_next(1, status=status)
    fast_consumer(server).send("events", event("E", f"s{status}"))
    assert len(server.events()) == 1


def test_retry_count_is_bounded(server: MixpanelServer) -> None:
    """After retry_limit retries the call fails with the last status."""
    server.fail_next(10, status=503)
    with pytest.raises(MixpanelException, match="HTTP 503") as caught:
        fast_consumer(server, retry_limit=2).send("events", event("E", "b1"))
    assert caught.value.status == 503
    assert len(server.requests()) == 3


def test_retry_after_is_honoured_within_the_deadline(server: MixpanelServer) -> None:
    """A Retry-After longer than the deadline ends the call instead of waiting."""
    server.fail_next(1, status=429, retry_after=60)
    with pytest.raises(MixpanelException, match="429"):
        fast_consumer(server, retry_deadline=1.0).send("events", event("E", "ra"))
    assert len(server.requests()) == 1


def test_short_retry_after_is_waited_for(server: MixpanelServer) -> None:
    """A short Retry-After is waited for, then the request goes through."""
    server.fail_next(1, status=429, retry_after=0.2)
    fast_consumer(server).send("events", event("E", "ra2"))
    first, second = server.requests()
    assert (first.status, second.status) == (429, 200)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_never_retried(server: MixpanelServer, status: int) -> None:
    """400, 401 and 403 fail at once."""
    server.fail_next(1, status=status)
    with pytest.raises(MixpanelException):
        fast_consumer(server).send("events", event("E", "n1"))
    assert len(server.requests()) == 1


def test_body_status_zero_is_an_error(server: MixpanelServer) -> None:
    """A 200 reply whose body says status 0 raises with Mixpanel's reason."""
    bad = json.dumps({"event": "E", "properties": {"token": "wrong-token"}})
    with pytest.raises(MixpanelException, match="refused"):
        fast_consumer(server).send("events", bad)
    assert server.events() == []


def test_timeouts_are_retried(server: MixpanelServer) -> None:
    """A reply slower than the request timeout is retried (events dedupe)."""
    server.stall_next(1, seconds=1.5)
    fast_consumer(server, request_timeout=0.3).send("events", event("E", "t1"))
    assert len(server.events()) == 2
    assert len(server.unique_events()) == 1


def test_dropped_connection_is_retried(server: MixpanelServer) -> None:
    """A connection closed without a reply is retried."""
    server.drop_next(1)
    fast_consumer(server).send("events", event("E", "d1"))
    assert len(server.events()) == 1


def test_deadline_bounds_the_whole_call(server: MixpanelServer) -> None:
    """With the server down, the call gives up by its deadline."""
    server.set_down(True)
    with pytest.raises(MixpanelException):
        fast_consumer(server, retry_limit=1000, retry_deadline=0.5).send(
            "events", event("E", "dl")
        )


def test_non_idempotent_update_not_resent_after_lost_reply(
    server: MixpanelServer,
) -> None:
    """An $add whose reply was lost is not sent again; the caller is told."""
    server.stall_next(1, seconds=1.5)
    add = json.dumps({"$token": TOKEN, "$distinct_id": "u", "$add": {"logins": 1}})
    with pytest.raises(MixpanelException, match="may or may not"):
        fast_consumer(server, request_timeout=0.3).send("people", add)
    assert len(server.people()) == 1


def test_idempotent_update_resent_after_lost_reply(server: MixpanelServer) -> None:
    """A $set whose reply was lost is sent again."""
    server.stall_next(1, seconds=1.5)
    update = json.dumps({"$token": TOKEN, "$distinct_id": "u", "$set": {"a": 1}})
    fast_consumer(server, request_timeout=0.3).send("people", update)
    assert len(server.people()) == 2


def test_413_splits_the_batch(server: MixpanelServer) -> None:
    """A batch over the server's limit is split in halves until it fits."""
    server.stop()
    with MixpanelServer(max_batch=3) as small:
        batch = "[" + ",".join(event("E", f"s{i}") for i in range(8)) + "]"
        fast_consumer(small).send("events", batch)
        assert len(small.unique_events()) == 8
        statuses = [r.status for r in small.requests()]
        assert statuses.count(413) >= 1


def test_gzip_on_large_bodies_only(server: MixpanelServer) -> None:
    """Large /track bodies are gzipped; small ones are not."""
    consumer = fast_consumer(server)
    consumer.send("events", event("Small", "g0"))
    large = "[" + ",".join(event("Large", f"g{i}", pad="x" * 50) for i in range(40))
    large += "]"
    consumer.send("events", large)
    small_request, large_request = server.requests()
    assert small_request.content_encoding is None
    assert large_request.content_encoding == "gzip"
    assert gzip.decompress(large_request.body) == large_request.decoded_body
    assert len(server.events(name="Large")) == 40


def test_gzip_can_be_turned_off(server: MixpanelServer) -> None:
    """gzip=False sends plain bodies."""
    large = "[" + ",".join(event("L", f"p{i}", pad="x" * 50) for i in range(40)) + "]"
    fast_consumer(server, gzip=False).send("events", large)
    assert server.requests()[0].content_encoding is None


def test_service_account_only_on_import(server: MixpanelServer) -> None:
    """Service-account credentials go to /import with project_id, nowhere else."""
    creds = ServiceAccountCredentials("sa-user", "sa-secret", "12345")
    consumer = fast_consumer(server, credentials=creds)
    consumer.send("imports", event("Imported", "i1"))
    consumer.send("events", event("Tracked", "i2"))
    consumer.send(
        "people", json.dumps({"$token": TOKEN, "$distinct_id": "u", "$set": {}})
    )
    by_path = {r.path: r for r in server.requests()}
    assert by_path["/import"].query["project_id"] == "12345"
    assert "authorization" in by_path["/import"].headers
    assert "authorization" not in by_path["/track"].headers
    assert "authorization" not in by_path["/engage"].headers
    assert "project_id" not in by_path["/track"].query


def test_api_secret_authenticates_import(server: MixpanelServer) -> None:
    """A per-call API secret authenticates /import."""
    fast_consumer(server).send(
        "imports", event("Imported", "k1"), api_secret="test-api-secret"
    )
    assert len(server.events()) == 1


def test_token_authenticates_import_without_secrets(server: MixpanelServer) -> None:
    """With no secret configured, the event's token is the /import user name."""
    fast_consumer(server).send("imports", event("Imported", "k2"))
    assert len(server.events()) == 1


def test_wrong_import_credentials_fail_without_retry(server: MixpanelServer) -> None:
    """401 on /import fails at once and the message names no secret."""
    creds = ServiceAccountCredentials("sa-user", "not-the-secret", "12345")
    with pytest.raises(MixpanelException) as caught:
        fast_consumer(server, credentials=creds).send("imports", event("E", "w1"))
    assert caught.value.status == 401
    assert "not-the-secret" not in str(caught.value)
    assert len(server.requests()) == 1


def test_no_credentials_over_plain_http_to_remote_host() -> None:
    """Credentials are never sent over plain http to a non-loopback host."""
    creds = ServiceAccountCredentials("sa-user", "sa-secret", "12345")
    consumer = Consumer(api_host="http://example.invalid", credentials=creds)
    with pytest.raises(MixpanelException, match="plain http"):
        consumer.send("imports", event("E", "h1"))


def test_strict_import_reports_failed_records(server: MixpanelServer) -> None:
    """Strict-mode failures name the records; valid ones are taken, not resent."""
    good = event("Good", "ok-1")
    bad = event("Bad", "not valid!")
    with pytest.raises(MixpanelException) as caught:
        fast_consumer(server).send("imports", f"[{good},{bad}]")
    assert caught.value.failed_records[0]["index"] == 1
    assert caught.value.failed_records[0]["field"]
    assert [e["event"] for e in server.events()] == ["Good"]
    assert len(server.requests()) == 1
