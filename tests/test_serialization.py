"""JSON encoding: reference-equal output, extended types, and named bad paths."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import mixpanel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_mixpanel import DatetimeSerializer, MixpanelException, json_dumps
from otel_mixpanel._serialization import dumps_message, find_invalid_path

NAN = float("nan")
INF = float("inf")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_output_equals_the_reference_for_what_it_handles(value: object) -> None:
    """Plain JSON and naive datetimes encode byte for byte like the reference."""
    ours = json_dumps(value, cls=DatetimeSerializer)
    assert ours == mixpanel.json_dumps(value, cls=mixpanel.DatetimeSerializer)


def test_separators_are_compact() -> None:
    """No whitespace after commas or colons, as the reference writes it."""
    data = {"a": [1, 2, {"b": "c d"}], "e": None}
    assert json_dumps(data) == '{"a":[1,2,{"b":"c d"}],"e":null}'
    assert json_dumps(data) == mixpanel.json_dumps(data)


def test_naive_datetime_drops_microseconds_like_the_reference() -> None:
    """A naive datetime is written YYYY-MM-DDTHH:MM:SS, microseconds dropped."""
    moment = datetime.datetime(2024, 2, 29, 23, 59, 58, 999_999)
    assert json_dumps([moment], DatetimeSerializer) == '["2024-02-29T23:59:58"]'


def test_aware_datetime_is_converted_to_utc() -> None:
    """An aware datetime is shifted to UTC before formatting."""
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2024, 1, 1, 1, 30, tzinfo=plus_two)
    assert json_dumps(moment, DatetimeSerializer) == '"2023-12-31T23:30:00"'
    utc = datetime.datetime(2024, 1, 1, 1, 30, tzinfo=datetime.timezone.utc)
    assert json_dumps(utc, DatetimeSerializer) == '"2024-01-01T01:30:00"'


def test_date_decimal_and_uuid_are_encoded() -> None:
    """date -> YYYY-MM-DD, finite Decimal -> float, UUID -> canonical string."""
    value = {
        "day": datetime.date(2024, 3, 5),
        "price": decimal.Decimal("9.99"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    assert json.loads(json_dumps(value, DatetimeSerializer)) == {
        "day": "2024-03-05",
        "price": 9.99,
        "id": "12345678-1234-5678-1234-567812345678",
    }


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes"])
def test_unknown_objects_raise_the_same_type_error(value: object) -> None:
    """Unknown types raise json's TypeError, as the reference does."""
    with pytest.raises(TypeError) as ours:
        json_dumps({"x": value}, DatetimeSerializer)
    with pytest.raises(TypeError) as theirs:
        mixpanel.json_dumps({"x": value}, mixpanel.DatetimeSerializer)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("value", [NAN, INF, -INF, decimal.Decimal("NaN")])
def test_json_dumps_refuses_non_finite_numbers(value: object) -> None:
    """NaN and infinities raise ValueError instead of producing invalid JSON."""
    with pytest.raises(ValueError):
        json_dumps({"x": value}, DatetimeSerializer)


def test_json_dumps_without_a_serializer_refuses_datetimes() -> None:
    """cls=None means plain JSON, as in the reference."""
    with pytest.raises(TypeError):
        json_dumps(datetime.datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("message", "path"),
    [
        ({"properties": {"score": NAN}}, "properties['score']"),
        ({"properties": {"score": INF}}, "properties['score']"),
        ({"$set": {"plan": -INF}}, "$set['plan']"),
        ({"$set": {"plan": object()}}, "$set['plan']"),
        ({"$set": {"tags": ["a", {"n": NAN}]}}, "$set['tags'][1]['n']"),
        ({"properties": {"d": decimal.Decimal("Infinity")}}, "properties['d']"),
        ({"properties": {(1, 2): "x"}}, "properties[<tuple key>]"),
        ({"properties": {NAN: "x"}}, "properties[<non-finite float key>]"),
        ({"properties": {"a": {frozenset(): 1}}}, "properties['a'][<frozenset key>]"),
        ({"properties": {"a": 1}, "extra": NAN}, "extra"),
    ],
)
def test_bad_values_are_refused_naming_the_path(message: object, path: str) -> None:
    """dumps_message raises MixpanelException naming where the bad value is."""
    with pytest.raises(MixpanelException) as caught:
        dumps_message(message, DatetimeSerializer)
    assert path in str(caught.value)
    assert find_invalid_path(message) == path


def test_error_never_shows_the_value() -> None:
    """The exception names the key but not the value's text."""

    class Secretive:
        def __repr__(self) -> str:
            return "hunter2"

    with pytest.raises(MixpanelException) as caught:
        dumps_message({"properties": {"password": Secretive()}}, DatetimeSerializer)
    text = str(caught.value)
    assert "properties['password']" in text
    assert "hunter2" not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_circular_reference_is_named() -> None:
    """A list containing itself is reported at the point where it repeats."""
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(MixpanelException) as caught:
        dumps_message({"properties": {"loop": loop}}, None)
    assert "properties['loop'][0]" in str(caught.value)
    assert "circular" in str(caught.value)


def test_a_bad_root_is_named_root() -> None:
    """A bare NaN is reported as <root>."""
    assert find_invalid_path(NAN) == "<root>"


def test_valid_data_has_no_invalid_path() -> None:
    """Valid data, including types the serializer knows, yields None."""
    value = {"a": [1, 2.5, None, True, {"b": datetime.date(2024, 1, 1)}], 3: "x"}
    assert find_invalid_path(value) is None
    assert find_invalid_path(datetime.date(2024, 1, 1), cls=None) == "<root>"


def test_coercible_non_string_keys_are_accepted() -> None:
    """int, float, bool and None keys are coerced to strings as json does."""
    data = {1: "a", 2.5: "b", None: "c", False: "d"}
    assert dumps_message(data, None) == json.dumps(data, separators=(",", ":"))


def test_dumps_message_matches_json_dumps_on_valid_data() -> None:
    """The fast path returns exactly json_dumps' output."""
    data = {"event": "e", "properties": {"t": datetime.datetime(2024, 1, 1), "n": 1}}
    assert dumps_message(data, DatetimeSerializer) == json_dumps(
        data, DatetimeSerializer
    )


def test_custom_serializer_overriding_encode_is_honoured() -> None:
    """A serializer class that overrides encode() is used as written."""

    class Upper(json.JSONEncoder):
        def encode(self, o: object) -> str:
            return super().encode(o).upper()

    assert json_dumps({"a": "b"}, Upper) == '{"A":"B"}'
    assert dumps_message({"a": "b"}, Upper) == '{"A":"B"}'


def test_bare_string_is_encoded() -> None:
    """A top-level string goes through the same encoder."""
    assert json_dumps("é") == mixpanel.json_dumps("é")
