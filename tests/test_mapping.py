"""Tests of the source-neutral mapping of records to Mixpanel messages."""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_mixpanel._identity import RecordIdentity
from otel_mixpanel._loss import LossCounter
from otel_mixpanel._mapping import EventMapper, MessageBatch, insert_id
from otel_mixpanel._redaction import DEFAULT_REDACT, Redaction, resolve_redact

TIME_NS = 1_700_000_000_123_456_789
INSERT_ID = "0123456789abcdef0123456789abcdef"


def make_mapper(**options: Any) -> EventMapper:
    return EventMapper("project-token", losses=LossCounter(), **options)


def map_one(
    attributes: Optional[dict[str, Any]],
    name: Optional[str] = "Signed up",
    mapper: Optional[EventMapper] = None,
    **options: Any,
) -> tuple[MessageBatch, EventMapper]:
    mapper = mapper or make_mapper()
    batch = mapper.new_batch()
    options.setdefault("time_ns", TIME_NS)
    options.setdefault("insert_id", INSERT_ID)
    mapper.map_record(batch, name, attributes, **options)
    return batch, mapper


def properties_of(
    attributes: Optional[dict[str, Any]], **options: Any
) -> dict[str, Any]:
    batch, _ = map_one(attributes, **options)
    (event,) = batch.events
    return json.loads(event)["properties"]


def people_of(batch: MessageBatch) -> list[dict[str, Any]]:
    return [json.loads(message) for message in batch.people]


def test_event_carries_name_token_time_insert_id_and_library():
    """An event has its name, the token, integer milliseconds, $insert_id and mp_lib."""
    batch, _ = map_one({"plan": "pro"})
    (event,) = [json.loads(message) for message in batch.events]
    assert event["event"] == "Signed up"
    properties = event["properties"]
    assert properties["token"] == "project-token"
    assert properties["time"] == TIME_NS // 1_000_000
    assert isinstance(properties["time"], int)
    assert properties["$insert_id"] == INSERT_ID
    assert properties["mp_lib"] == "otel-mixpanel"
    assert properties["$lib_version"]
    assert properties["plan"] == "pro"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {
                "enduser.pseudo.id": "p",
                "enduser.id": "e",
                "user.id": "u",
                "mixpanel.distinct_id": "m",
            },
            "m",
        ),
        ({"enduser.pseudo.id": "p", "enduser.id": "e", "user.id": "u"}, "u"),
        ({"enduser.pseudo.id": "p", "enduser.id": "e"}, "e"),
        ({"enduser.pseudo.id": "p"}, "p"),
        ({"user.id": 42}, "42"),
    ],
)
def test_distinct_id_comes_from_the_first_identity_attribute(attributes, expected):
    """mixpanel.distinct_id wins over user.id, enduser.id, then enduser.pseudo.id."""
    assert properties_of(attributes)["distinct_id"] == expected


@pytest.mark.parametrize(
    "placeholder",
    [
        "anon",
        "NULL",
        " undefined ",
        "0",
        "-1",
        "",
        "none",
        "nil",
        "Anonymous",
        "00000000-0000-0000-0000-000000000000",
        "[]",
        "{}",
    ],
)
def test_placeholder_identity_counts_as_missing(placeholder):
    """A placeholder distinct_id is skipped and the next identity source used."""
    attributes = {"mixpanel.distinct_id": placeholder, "enduser.id": "real-user"}
    assert properties_of(attributes)["distinct_id"] == "real-user"
    assert "distinct_id" not in properties_of({"user.id": placeholder})


@pytest.mark.parametrize("value", [True, 1.5, ["u1"], "x" * 256, None])
def test_unusable_identity_values_are_ignored(value):
    """Booleans, floats, arrays and over-long strings are not identities."""
    assert "distinct_id" not in properties_of({"mixpanel.distinct_id": value})


def test_event_without_identity_has_no_distinct_id():
    """Without any identity the event is sent with no distinct_id at all."""
    properties = properties_of({"plan": "pro"})
    assert "distinct_id" not in properties


def test_profile_update_without_identity_is_skipped_and_counted():
    """Profile changes of a record without identity are dropped and counted."""
    batch, mapper = map_one(
        {"mixpanel.people.set.plan": "pro", "mixpanel.people.increment.n": 1}
    )
    assert batch.people == []
    assert len(batch.events) == 1
    assert mapper.losses.snapshot() == {"no identity for profile update": 2}


def test_child_record_inherits_identity_and_groups():
    """A record with no identity of its own takes its parent's identity and groups."""
    parent = RecordIdentity("user-7", {"company_id": "acme"})
    properties = properties_of({"step": 2}, inherited=parent)
    assert properties["distinct_id"] == "user-7"
    assert properties["company_id"] == "acme"
    own = properties_of({"user.id": "user-8"}, inherited=parent)
    assert own["distinct_id"] == "user-8"


def test_map_record_returns_identity_for_children():
    """map_record returns the record's identity and groups."""
    mapper = make_mapper()
    identity = mapper.map_record(
        mapper.new_batch(),
        "Evt",
        {"user.id": "u1", "mixpanel.group.company_id": "acme"},
        time_ns=TIME_NS,
        insert_id=INSERT_ID,
    )
    assert identity == RecordIdentity("u1", {"company_id": "acme"})
    assert mapper.identity({"enduser.id": "e1", "mixpanel.group.team": 5}) == (
        RecordIdentity("e1", {"team": 5})
    )


def test_control_attributes_are_not_properties():
    """mixpanel.* attributes never become event properties."""
    properties = properties_of(
        {
            "mixpanel.event": "Signed up",
            "mixpanel.distinct_id": "u1",
            "mixpanel.people.set.plan": "pro",
            "mixpanel.people.unset": ("old",),
            "kept": 1,
        }
    )
    assert not [key for key in properties if key.startswith("mixpanel.")]
    assert properties["kept"] == 1


def test_unknown_mixpanel_attribute_is_dropped_and_counted():
    """An unknown mixpanel.* key is dropped and counted as an invalid property."""
    batch, mapper = map_one({"mixpanel.colour": "red", "ok": True})
    properties = json.loads(batch.events[0])["properties"]
    assert "mixpanel.colour" not in properties
    assert mapper.losses.snapshot() == {"invalid property": 1}


def test_identity_attributes_other_than_the_control_stay_properties():
    """user.id is kept as a property; mixpanel.distinct_id is not."""
    properties = properties_of({"user.id": "u1", "mixpanel.distinct_id": "m1"})
    assert properties["user.id"] == "u1"
    assert properties["distinct_id"] == "m1"


@pytest.mark.parametrize(
    "key",
    [
        "http.request.header.authorization",
        "http.request.header.proxy-authorization",
        "http.request.header.cookie",
        "http.response.header.set-cookie",
        "db.password",
        "smtp.passwd",
        "client_secret",
        "accessToken",
        "http.request.header.x-auth-token",
        "user.apiKey",
        "http.request.header.x-api-key",
        "aws.access_key_id",
        "tls.private_key",
        "PASSWORD",
        "exception.stacktrace",
    ],
)
def test_credentials_are_redacted_by_default(key):
    """Keys naming credentials are removed without being counted."""
    batch, mapper = map_one({key: "s3cr3t", "kept": 1})
    properties = json.loads(batch.events[0])["properties"]
    assert key not in properties
    assert "s3cr3t" not in batch.events[0]
    assert mapper.losses.total == 0


@pytest.mark.parametrize(
    "key", ["gen_ai.usage.input_tokens", "author", "session.id", "http.route"]
)
def test_similar_looking_keys_are_kept(key):
    """Redaction matches whole words: input_tokens or author are kept."""
    assert properties_of({key: "v"})[key] == "v"


def test_nested_keys_and_profile_properties_are_redacted():
    """Redaction also applies inside objects and to profile property names."""
    batch, _ = map_one(
        {
            "headers": {"Authorization": "Bearer x", "accept": "json"},
            "user.id": "u1",
            "mixpanel.people.set.password": "hunter2",
            "mixpanel.people.set.plan": "pro",
        }
    )
    properties = json.loads(batch.events[0])["properties"]
    assert properties["headers"] == {"accept": "json"}
    assert people_of(batch)[0]["$set"] == {"plan": "pro"}


def test_user_redaction_list_replaces_the_default():
    """redact=[...] replaces the default list; an empty list turns it off."""
    mapper = make_mapper(redact=resolve_redact(["ssn"]))
    properties = properties_of({"ssn": "1", "db.password": "p"}, mapper=mapper)
    assert "ssn" not in properties
    assert properties["db.password"] == "p"
    open_mapper = make_mapper(redact=resolve_redact([]))
    assert properties_of({"db.password": "p"}, mapper=open_mapper)["db.password"] == "p"


def test_redaction_list_comes_from_the_environment():
    """MIXPANEL_REDACT (comma-separated) replaces the default; empty means default."""
    custom = resolve_redact(environ={"MIXPANEL_REDACT": "ssn, card-number"})
    assert custom.matches("user.ssn")
    assert custom.matches("payment.cardNumber")
    assert not custom.matches("db.password")
    default = resolve_redact(environ={"MIXPANEL_REDACT": " "})
    assert default.matches("db.password")
    assert Redaction(DEFAULT_REDACT).matches("Set-Cookie")


def test_long_strings_are_truncated_to_255_characters():
    """Strings, in properties and arrays, are cut to 255 characters."""
    properties = properties_of({"long": "x" * 10_000, "list": ("y" * 300,)})
    assert properties["long"] == "x" * 255
    assert properties["list"] == ["y" * 255]


def test_arrays_stay_arrays_and_are_truncated_to_254_items():
    """Arrays are kept as arrays of at most 254 items."""
    properties = properties_of({"tags": ("a", "b"), "many": tuple(range(1000))})
    assert properties["tags"] == ["a", "b"]
    assert properties["many"] == list(range(254))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2**70, b"raw"])
def test_unsendable_values_are_dropped_and_counted(value):
    """NaN, infinities, huge integers and bytes are dropped and counted."""
    batch, mapper = map_one({"bad": value, "good": 1})
    properties = json.loads(batch.events[0])["properties"]
    assert "bad" not in properties
    assert properties["good"] == 1
    assert mapper.losses.snapshot() == {"invalid property": 1}


def test_mixed_arrays_keep_their_valid_items():
    """A mixed array keeps its valid items; invalid ones are dropped and counted."""
    batch, mapper = map_one({"mixed": [1, "a", True, math.nan, 2.5, None, object()]})
    properties = json.loads(batch.events[0])["properties"]
    assert properties["mixed"] == [1, "a", True, 2.5, None]
    assert mapper.losses.snapshot() == {"invalid property": 2}


def test_rich_values_become_json():
    """Dates become strings, nested objects stay objects up to depth 3."""
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    properties = properties_of(
        {"when": when, "day": when.date(), "deep": {"a": {"b": {"c": {"d": 1}}}}}
    )
    assert properties["when"] == "2024-05-01T12:30:00"
    assert properties["day"] == "2024-05-01"
    assert properties["deep"] == {"a": {"b": {}}}


def test_at_most_254_properties_and_the_rest_counted():
    """Hundreds of attributes give 254 properties; what is left out is counted."""
    attributes = {f"attr.{index}": index for index in range(400)}
    batch, mapper = map_one({"user.id": "u1", **attributes}, trace_id=1, span_id=2)
    properties = json.loads(batch.events[0])["properties"]
    assert len(properties) == 254
    assert properties["token"] == "project-token"
    assert properties["distinct_id"] == "u1"
    kept = len([key for key in properties if key.startswith("attr.")])
    kept += "user.id" in properties
    assert mapper.losses.snapshot() == {"too many properties": 401 - kept}


def test_reserved_property_names_cannot_be_overwritten():
    """Attributes named token, time, distinct_id, ... are dropped and counted."""
    batch, mapper = map_one(
        {"token": "evil", "time": 1, "distinct_id": "x", "$insert_id": "y"}
    )
    properties = json.loads(batch.events[0])["properties"]
    assert properties["token"] == "project-token"
    assert properties["time"] == TIME_NS // 1_000_000
    assert "distinct_id" not in properties
    assert properties["$insert_id"] == INSERT_ID
    assert mapper.losses.snapshot() == {"invalid property": 4}


def test_trace_and_span_ids_are_hex_properties():
    """trace_id and span_id are set as hex when the record has them."""
    properties = properties_of({}, trace_id=0xABC, span_id=0x12)
    assert properties["trace_id"] == "0" * 29 + "abc"
    assert properties["span_id"] == "0" * 14 + "12"
    assert "trace_id" not in properties_of({})


def test_resource_properties_are_copied():
    """service.name, service.version and the environment come from the resource."""
    resource = {
        "service.name": "shop",
        "service.version": "1.2.3",
        "deployment.environment": "prod",
        "host.name": "box",
    }
    properties = properties_of({}, resource_attributes=resource)
    assert properties["service.name"] == "shop"
    assert properties["service.version"] == "1.2.3"
    assert properties["deployment.environment.name"] == "prod"
    assert "host.name" not in properties


def test_extra_properties_win_over_attributes():
    """Source-specific extra properties are cleaned and override attributes."""
    properties = properties_of(
        {"duration_ms": "fake"}, extra_properties={"duration_ms": 1.5, "bad": math.nan}
    )
    assert properties["duration_ms"] == 1.5
    assert "bad" not in properties


def test_groups_become_event_properties():
    """mixpanel.group.<key> = <id> sets the property <key> = <id>."""
    properties = properties_of({"mixpanel.group.company_id": "acme"})
    assert properties["company_id"] == "acme"


def test_each_profile_operation_is_one_message():
    """Each profile operation (set, increment, unset, ...) is one message."""
    batch, mapper = map_one(
        {
            "user.id": "u1",
            "mixpanel.people.set.plan": "pro",
            "mixpanel.people.set.seats": 3,
            "mixpanel.people.set_once.first_seen": "2024-01-01",
            "mixpanel.people.increment.logins": 1,
            "mixpanel.people.append.visits": "home",
            "mixpanel.people.union.tags": ("a", "b"),
            "mixpanel.people.remove.flags": "beta",
            "mixpanel.people.unset": ("old", "older"),
        }
    )
    updates = people_of(batch)
    assert all(update["$distinct_id"] == "u1" for update in updates)
    assert all(update["$token"] == "project-token" for update in updates)
    assert all(update["$time"] == TIME_NS // 1_000_000 for update in updates)
    operations = {key: update[key] for update in updates for key in update}
    assert operations["$set"] == {"plan": "pro", "seats": 3}
    assert operations["$set_once"] == {"first_seen": "2024-01-01"}
    assert operations["$add"] == {"logins": 1}
    assert operations["$append"] == {"visits": "home"}
    assert operations["$union"] == {"tags": ["a", "b"]}
    assert operations["$remove"] == {"flags": "beta"}
    assert operations["$unset"] == ["old", "older"]
    assert len(updates) == 7
    assert mapper.losses.total == 0


def test_bad_profile_values_are_dropped_and_counted():
    """A non-numeric increment is dropped; a scalar union becomes a list."""
    batch, mapper = map_one(
        {
            "user.id": "u1",
            "mixpanel.people.increment.logins": "one",
            "mixpanel.people.increment.ok": 2,
            "mixpanel.people.union.tag": "solo",
            "mixpanel.people.unset": "plan",
        }
    )
    operations = {key: update[key] for update in people_of(batch) for key in update}
    assert operations["$add"] == {"ok": 2}
    assert operations["$union"] == {"tag": ["solo"]}
    assert operations["$unset"] == ["plan"]
    assert mapper.losses.snapshot() == {"invalid property": 1}


def test_record_without_name_sends_only_profile_updates():
    """name=None builds no event but still the profile updates."""
    batch, _ = map_one({"user.id": "u1", "mixpanel.people.set.a": 1}, name=None)
    assert batch.events == []
    assert len(batch.people) == 1


def test_events_go_to_imports_when_import_is_used():
    """With import credentials, events go to the imports endpoint."""
    assert make_mapper().new_batch().by_endpoint() == []
    batch, _ = map_one({}, mapper=make_mapper(uses_import=True))
    assert [endpoint for endpoint, _ in batch.by_endpoint()] == ["imports"]
    batch, _ = map_one({"user.id": "u", "mixpanel.people.set.a": 1})
    assert [endpoint for endpoint, _ in batch.by_endpoint()] == ["events", "people"]


def test_event_name_reads_the_marking_attribute():
    """event_name returns a usable mixpanel.event value, else None."""
    mapper = make_mapper()
    assert mapper.event_name({"mixpanel.event": "Paid"}) == "Paid"
    assert mapper.event_name({"mixpanel.event": "  "}) is None
    assert mapper.event_name({"mixpanel.event": 3}) is None
    assert mapper.event_name(None) is None
    assert mapper.event_name({"mixpanel.event": "n" * 300}) == "n" * 255


def test_insert_id_is_stable_and_in_mixpanel_format():
    """$insert_id depends only on trace, span, position and seed: 32 of [a-f0-9]."""
    first = insert_id(2**127 + 5, 2**63 + 7)
    assert first == insert_id(2**127 + 5, 2**63 + 7)
    assert re.fullmatch(r"[A-Za-z0-9-]{1,36}", first)
    assert first != insert_id(2**127 + 5, 2**63 + 7, 1)
    assert insert_id(0, 0, 0, b"a") != insert_id(0, 0, 0, b"b")
    assert insert_id(1, 2, 0, b"a") != insert_id(1, 2, 0, b"b")
    for position in (0, 1, 0xFFFF, 0x10000, 2**40):
        value = insert_id(2**128 - 1, 2**64 - 1, position)
        assert re.fullmatch(r"[A-Za-z0-9-]{1,36}", value)


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.binary(max_size=10),
)
VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(max_size=300), st.integers()), children),
    ),
    max_leaves=40,
)
KEYS = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "user.id",
            "mixpanel.distinct_id",
            "mixpanel.people.set.x",
            "token",
            "mixpanel.people.increment.n",
            "mixpanel.group.g",
            "mixpanel.people.unset",
        ]
    ),
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=20))
def test_hostile_attributes_never_raise_and_give_valid_messages(attributes):
    """Any attributes give parseable messages within Mixpanel's limits."""
    batch, _ = map_one(attributes)
    (event,) = [json.loads(message) for message in batch.events]
    assert len(event["properties"]) < 255
    for message in [event["properties"], *people_of(batch)]:
        _check_limits(message, depth=0)


def _check_limits(value: Any, depth: int) -> None:
    if isinstance(value, str):
        assert len(value) <= 255
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, (list, dict)):
        assert depth <= 4
        assert len(value) < 255 or depth == 0
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _check_limits(item, depth + 1)


def test_url_attributes_lose_their_credentials() -> None:
    """URL attributes keep their shape; user info and secret parameters go."""
    from otel_mixpanel._redaction import resolve_redact

    redaction = resolve_redact(None)
    assert (
        redaction.scrub_url("https://ada:pw@shop.test/p?access_token=abc&page=2")
        == "https://REDACTED:REDACTED@shop.test/p?access_token=REDACTED&page=2"
    )
    assert (
        redaction.scrub_url("/feed?q=token&apiKey=1") == "/feed?q=token&apiKey=REDACTED"
    )
    assert resolve_redact([]).scrub_url("/feed?token=1") == "/feed?token=1"
