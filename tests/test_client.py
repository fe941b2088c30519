"""The direct client builds the reference client's messages, and checks input."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any, Callable

import mixpanel
import pytest

import otel_mixpanel
from otel_mixpanel import (
    Mixpanel,
    MixpanelException,
    ServiceAccountCredentials,
)
from otel_mixpanel import _client as client_module
from otel_mixpanel._buffered import BufferedConsumer
from otel_mixpanel._consumer import Consumer
from otel_mixpanel.testing import MixpanelServer

NOW = 1_700_000_000.25
INSERT_ID = "0123456789abcdef0123456789abcdef"
TOKEN = "test-token"
MOMENT = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)


class RecordingConsumer:
    """A consumer that records every send call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, Any]] = []

    def send(
        self,
        endpoint: str,
        json_message: str,
        api_key: Any = None,
        api_secret: Any = None,
    ) -> None:
        self.calls.append((endpoint, json_message, api_key, api_secret))


class SyncCapableConsumer(RecordingConsumer):
    """Like our consumers: sync_consumer() returns a sender for the same endpoints."""

    def __init__(self) -> None:
        super().__init__()
        self.sync = RecordingConsumer()

    def sync_consumer(self) -> RecordingConsumer:
        return self.sync


def pinned(client: Any) -> Any:
    """Fix the time and insert id seams of either client."""
    client._now = lambda: NOW
    client._make_insert_id = lambda: INSERT_ID
    return client


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build (ours, reference, our consumer, reference consumer)."""

    def build() -> tuple[Mixpanel, Any, RecordingConsumer, RecordingConsumer]:
        ours_consumer, theirs_consumer = RecordingConsumer(), RecordingConsumer()
        # The reference's alias() always builds a fresh Consumer(): capture it.
        monkeypatch.setattr(mixpanel, "Consumer", lambda *a, **k: theirs_consumer)
        ours = pinned(Mixpanel(TOKEN, consumer=ours_consumer))
        theirs = pinned(mixpanel.Mixpanel(TOKEN, consumer=theirs_consumer))
        return ours, theirs, ours_consumer, theirs_consumer

    return build


def normalized(json_message: str) -> str:
    """Re-encode a message keeping key order, with $lib_version blanked."""
    message = json.loads(json_message)
    properties = message.get("properties")
    if isinstance(properties, dict) and "$lib_version" in properties:
        properties["$lib_version"] = "<version>"
    return json.dumps(message)


CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("track", ("user-1", "Signed Up"), {}),
    ("track", (42, "Paid", {"plan": "pro", "at": MOMENT, "n": [1, 2]}), {}),
    (
        "track",
        ("user-1", "E", {"distinct_id": "x", "token": "t2"}, {"$ip": "1.2.3.4"}),
        {},
    ),
    ("track", ("user-1", "E"), {"meta": {"event": "Renamed", "extra": 1}}),
    ("import_data", ("key", "user-1", "Old", 1_600_000_000, {"a": MOMENT}), {}),
    ("import_data", (None, "u", "Old", 1_600_000_000.5, None, {"m": 1}, "secret"), {}),
    ("alias", ("new-id", "old-id"), {}),
    ("alias", ("new-id", 7, {"$ignore": True}), {}),
    ("merge", ("key", "a", "b"), {}),
    ("merge", (None, "a", 2), {"meta": {"x": 1}, "api_secret": "secret"}),
    ("people_set", ("user-1", {"plan": "pro", "since": MOMENT}), {}),
    ("people_set", ("user-1", {"plan": "pro"}, {"$ip": "0", "$ignore_time": True}), {}),
    ("people_set_once", ("user-1", {"first": "x"}), {}),
    ("people_increment", ("user-1", {"logins": 1, "credits": -2.5}), {}),
    ("people_append", ("user-1", {"items": "sword"}), {"meta": {"$ip": "0"}}),
    ("people_union", ("user-1", {"items": ["a", "b"]}), {}),
    ("people_unset", ("user-1", ["a", "b"]), {}),
    ("people_unset", ("user-1", ["a"], {"$ignore_time": True}), {}),
    ("people_remove", ("user-1", {"items": "a"}), {}),
    ("people_delete", ("user-1",), {}),
    ("people_delete", ("user-1", {"$ignore_alias": True}), {}),
    ("people_track_charge", ("user-1", 9.99), {}),
    ("people_track_charge", ("user-1", 5, {"sku": "x", "$time": MOMENT}), {}),
    ("people_track_charge", ("user-1", 5, {"$amount": 1, "sku": "x"}, {"m": 1}), {}),
    ("people_clear_charges", ("user-1",), {}),
    ("people_clear_charges", ("user-1", {"$ip": "0"}), {}),
    ("people_update", ({"$distinct_id": "u", "$add": {"n": 1}},), {}),
    ("people_update", ({"$distinct_id": "u", "$time": 5}, {"$token": "other"}), {}),
    ("group_set", ("company", "Acme", {"size": 10, "at": MOMENT}), {}),
    ("group_set", ("company", 9, {"size": 10}, {"$ip": "0"}), {}),
    ("group_set_once", ("company", "Acme", {"founded": 1999}), {}),
    ("group_union", ("company", "Acme", {"tags": ["a"]}), {}),
    ("group_unset", ("company", "Acme", ["size"]), {}),
    ("group_remove", ("company", "Acme", {"tags": "a"}), {}),
    ("group_delete", ("company", "Acme"), {}),
    ("group_delete", ("company", "Acme", {"x": 1}), {}),
    ("group_update", ({"$group_key": "k", "$group_id": "i", "$set": {}},), {}),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs"),
    CALLS,
    ids=[f"{index}-{call[0]}" for index, call in enumerate(CALLS)],
)
def test_every_method_builds_the_reference_message(
    pair: Callable[..., Any], method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Same endpoint, key order, values and api_key argument as mixpanel 5.4.1."""
    ours, theirs, ours_consumer, theirs_consumer = pair()
    getattr(ours, method)(*args, **kwargs)
    getattr(theirs, method)(*args, **kwargs)

    assert len(ours_consumer.calls) == len(theirs_consumer.calls) == 1
    (endpoint, message, api_key, api_secret) = ours_consumer.calls[0]
    (ref_endpoint, ref_message, ref_api_key, ref_api_secret) = theirs_consumer.calls[0]
    assert endpoint == ref_endpoint
    assert normalized(message) == normalized(ref_message)
    assert (api_key, api_secret) == (ref_api_key, ref_api_secret)
    properties = json.loads(message).get("properties", {})
    if "$lib_version" in properties:
        assert properties["$lib_version"] == otel_mixpanel.__version__
        assert properties["mp_lib"] == "python"


def test_import_and_merge_pass_the_key_tuple(pair: Callable[..., Any]) -> None:
    """import_data and merge hand (api_key, api_secret) as the third argument."""
    ours, _, consumer, _ = pair()
    ours.import_data("key", "u", "E", 1_600_000_000, api_secret="secret")
    ours.merge(None, "a", "b")
    assert consumer.calls[0][0] == "imports"
    assert consumer.calls[0][2:] == (("key", "secret"), None)
    assert consumer.calls[1][2:] == ((None, None), None)


def test_track_charge_leaves_the_callers_properties_alone(
    pair: Callable[..., Any],
) -> None:
    """The properties dict given to people_track_charge is not mutated."""
    ours, theirs, ours_consumer, theirs_consumer = pair()
    properties = {"sku": "x"}
    ours.people_track_charge("user-1", 5, properties)
    assert properties == {"sku": "x"}
    theirs.people_track_charge("user-1", 5, dict(properties))
    assert normalized(ours_consumer.calls[0][1]) == normalized(
        theirs_consumer.calls[0][1]
    )


def test_alias_goes_through_the_sync_consumer() -> None:
    """alias() uses the consumer's sync_consumer(), so its host, not a new Consumer."""
    consumer = SyncCapableConsumer()
    pinned(Mixpanel(TOKEN, consumer=consumer)).alias("new-id", "old-id")
    assert consumer.calls == []
    ((endpoint, message, _, _),) = consumer.sync.calls
    assert endpoint == "events"
    assert json.loads(message)["event"] == "$create_alias"


def test_alias_falls_back_to_the_consumer_itself() -> None:
    """A consumer without sync_consumer() receives the alias directly."""
    consumer = RecordingConsumer()
    Mixpanel(TOKEN, consumer=consumer).alias("new-id", "old-id")
    assert [call[0] for call in consumer.calls] == ["events"]


def test_alias_reaches_a_custom_host_without_a_flush(
    mixpanel_server: MixpanelServer,
) -> None:
    """Over HTTP: alias through a BufferedConsumer is sent to its host at once."""
    consumer = BufferedConsumer(
        api_host=mixpanel_server.url, retry_backoff_factor=0.01, request_timeout=2.0
    )
    with consumer:
        client = Mixpanel(TOKEN, consumer=consumer)
        client.alias("new-id", "old-id")
        (event,) = mixpanel_server.wait_for_events(1, timeout=5, name="$create_alias")
    assert event["properties"]["alias"] == "new-id"
    assert event["properties"]["distinct_id"] == "old-id"


def test_messages_are_accepted_over_http(mixpanel_server: MixpanelServer) -> None:
    """Over HTTP: track, people and group updates reach the server intact."""
    consumer = Consumer(
        api_host=mixpanel_server.url, retry_backoff_factor=0.01, request_timeout=2.0
    )
    client = Mixpanel(TOKEN, consumer=consumer)
    client.track("user-1", "Signed Up", {"at": MOMENT})
    client.people_set("user-1", {"plan": "pro"})
    client.group_set("company", "Acme", {"size": 3})
    (event,) = mixpanel_server.wait_for_events(1, timeout=5)
    assert event["properties"]["at"] == "2024-05-06T07:08:09"
    assert mixpanel_server.people()[0]["$set"] == {"plan": "pro"}
    assert mixpanel_server.groups()[0]["$set"] == {"size": 3}
    consumer.close()


@pytest.mark.parametrize(
    ("properties", "key"),
    [
        ({"score": float("nan")}, "properties['score']"),
        ({"score": float("inf")}, "properties['score']"),
        ({"score": float("-inf")}, "properties['score']"),
        ({"thing": object()}, "properties['thing']"),
        ({"nested": {"deep": [float("nan")]}}, "properties['nested']['deep'][0]"),
    ],
)
def test_values_that_are_not_json_are_refused(properties: Any, key: str) -> None:
    """NaN, infinities and unserializable values raise, naming the key; nothing sent."""
    consumer = RecordingConsumer()
    with pytest.raises(MixpanelException) as caught:
        Mixpanel(TOKEN, consumer=consumer).track("user-1", "E", properties)
    assert key in str(caught.value)
    assert consumer.calls == []


def test_profile_values_are_named_by_operation() -> None:
    """A bad profile value is named under its operation, e.g. $set['plan']."""
    consumer = RecordingConsumer()
    with pytest.raises(MixpanelException, match=r"\$set\['plan'\]"):
        Mixpanel(TOKEN, consumer=consumer).people_set("u", {"plan": float("nan")})
    assert consumer.calls == []


@pytest.mark.parametrize("distinct_id", [None, True, 1.5, {"id": 1}, ["u"], b"u"])
def test_distinct_id_must_be_str_or_int(distinct_id: Any) -> None:
    """track and people_* refuse a distinct_id that is not a str or an int."""
    client = Mixpanel(TOKEN, consumer=RecordingConsumer())
    with pytest.raises(MixpanelException, match="distinct_id"):
        client.track(distinct_id, "E")
    with pytest.raises(MixpanelException, match="distinct_id"):
        client.people_set(distinct_id, {"a": 1})
    with pytest.raises(MixpanelException, match="distinct_id"):
        client.people_delete(distinct_id)


@pytest.mark.parametrize("event_name", ["", "   ", None, 5])
def test_event_name_must_be_a_non_empty_str(event_name: Any) -> None:
    """track and import_data refuse an empty or non-str event name."""
    client = Mixpanel(TOKEN, consumer=RecordingConsumer())
    with pytest.raises(MixpanelException, match="event_name"):
        client.track("u", event_name)
    with pytest.raises(MixpanelException, match="event_name"):
        client.import_data(None, "u", event_name, 1_600_000_000)


@pytest.mark.parametrize("properties", [["a", 1], "text", 5, [("a", 1)]])
def test_properties_must_be_a_mapping(properties: Any) -> None:
    """Properties that are not a mapping are refused, naming the argument."""
    client = Mixpanel(TOKEN, consumer=RecordingConsumer())
    with pytest.raises(MixpanelException, match="properties"):
        client.track("u", "E", properties)
    with pytest.raises(MixpanelException, match="properties"):
        client.people_set("u", properties)
    with pytest.raises(MixpanelException, match="properties"):
        client.group_union("k", "g", properties)


def test_other_arguments_are_checked() -> None:
    """Timestamps, amounts, unset names, meta and messages have the right types."""
    client = Mixpanel(TOKEN, consumer=RecordingConsumer())
    with pytest.raises(MixpanelException, match="timestamp"):
        client.import_data(None, "u", "E", "yesterday")
    with pytest.raises(MixpanelException, match="amount"):
        client.people_track_charge("u", "9.99")
    with pytest.raises(MixpanelException, match="properties"):
        client.people_unset("u", "name")
    with pytest.raises(MixpanelException, match="meta"):
        client.track("u", "E", None, ["not", "a", "mapping"])
    with pytest.raises(MixpanelException, match="message"):
        client.people_update([("$set", {})])  # type: ignore[arg-type]
    with pytest.raises(MixpanelException, match="group_key"):
        client.group_set("", "g", {})


def test_deprecated_keys_warn_without_their_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """api_key and api_secret log a deprecation warning that never holds them."""
    client = Mixpanel(TOKEN, consumer=RecordingConsumer())
    with caplog.at_level(logging.WARNING, logger="otel_mixpanel"):
        client.import_data("KEY-VALUE", "u", "E", 1_600_000_000, api_secret="SECRET-V")
        client.merge("KEY-VALUE", "a", "b", api_secret="SECRET-V")
    text = caplog.text
    assert "api_key" in text
    assert "api_secret" in text
    assert "KEY-VALUE" not in text
    assert "SECRET-V" not in text


def test_credentials_with_a_consumer_warn_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Credentials next to a custom consumer are ignored with a warning."""
    credentials = ServiceAccountCredentials("sa-user", "SA-SECRET", "1")
    with caplog.at_level(logging.WARNING, logger="otel_mixpanel"):
        Mixpanel(TOKEN, consumer=RecordingConsumer(), credentials=credentials)
    assert "credentials" in caplog.text
    assert "SA-SECRET" not in caplog.text


def test_default_consumer_gets_the_credentials_and_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a consumer, the client makes one with the credentials; exit closes it."""
    made: list[Any] = []

    class FakeConsumer(RecordingConsumer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            self.kwargs = kwargs
            self.closed = False
            made.append(self)

        def close(self) -> None:
            self.closed = True

    monkeypatch.setattr(client_module, "Consumer", FakeConsumer)
    credentials = ServiceAccountCredentials("sa-user", "secret", "1")
    with Mixpanel(TOKEN, credentials=credentials) as client:
        client.track("u", "E")
    (consumer,) = made
    assert consumer.kwargs == {"credentials": credentials}
    assert consumer.calls[0][0] == "events"
    assert consumer.closed


def test_a_consumer_passed_in_is_not_closed() -> None:
    """The client never closes a consumer it did not create."""
    closed: list[bool] = []

    class Closable(RecordingConsumer):
        def close(self) -> None:
            closed.append(True)

    with Mixpanel(TOKEN, consumer=Closable()):
        pass
    assert closed == []


def test_the_serializer_seam_is_used() -> None:
    """A custom serializer class set on the client encodes the messages."""

    class Tagged(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            return "tagged"

    consumer = RecordingConsumer()
    client = Mixpanel(TOKEN, consumer=consumer, serializer=Tagged)
    client.track("u", "E", {"x": object()})
    assert json.loads(consumer.calls[0][1])["properties"]["x"] == "tagged"


def test_credentials_are_keyword_only() -> None:
    """A fourth positional argument is refused rather than taken as credentials."""
    with pytest.raises(TypeError):
        Mixpanel(TOKEN, RecordingConsumer(), None, object())  # type: ignore[misc]


def test_package_exposes_the_reference_names() -> None:
    """`import otel_mixpanel as mixpanel` offers the reference's public names."""
    names = [
        "Mixpanel",
        "Consumer",
        "BufferedConsumer",
        "MixpanelException",
        "DatetimeSerializer",
        "json_dumps",
        "ServiceAccountCredentials",
        "__version__",
    ]
    for name in names:
        assert hasattr(mixpanel, name), name
        assert hasattr(otel_mixpanel, name), name
