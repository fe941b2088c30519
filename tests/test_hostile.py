"""Hostile attribute keys and values: nothing raises, valid events still go out.

Hypothesis feeds the span exporter, the log record exporter and the handler
huge strings, deep and mixed structures, bytes, lone surrogates, NaN,
infinities, thousands of attributes and non-string keys. The OpenTelemetry
SDK itself drops or converts some of these (span attributes set through the
API, log record attributes) before an exporter sees them; ``export`` is also
called directly with raw spans so the exporter gets the unfiltered values.
The direct client API refuses values that cannot be JSON, naming the key.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanContext, TraceFlags

from otel_mixpanel import (
    MixpanelException,
    MixpanelHandler,
    MixpanelLogExporter,
    MixpanelSpanExporter,
)
from otel_mixpanel._client import Mixpanel
from otel_mixpanel._sdk_logs import LogExportResult, make_log_record
from otel_mixpanel.testing import MixpanelServer

pytestmark = pytest.mark.filterwarnings(
    "ignore::opentelemetry.sdk._logs.LogRecordDroppedAttributesWarning"
)
EXAMPLES = 60
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: The handler delivers in the background; a failing example waits this long.
WAIT = 3.0


class Hostile:
    """A value whose every conversion raises."""

    def __str__(self) -> str:
        raise RuntimeError("hostile __str__")

    __repr__ = __str__

    def __int__(self) -> int:
        raise RuntimeError("hostile __int__")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("hostile __iter__")


# -- strategies --------------------------------------------------------------

SURROGATE_TEXT = st.text(
    alphabet=st.characters(codec=None, categories=["Cs", "L", "N", "P", "Zs"]),
    max_size=20,
)
HUGE_TEXT = st.integers(256, 200_000).map(lambda n: "\u00e9" * n)
TEXT = st.one_of(st.text(max_size=30), SURROGATE_TEXT, HUGE_TEXT, st.just("\ud800"))
#: Values no Mixpanel property can hold: each is dropped and counted. (The
#: SDK calls ``str()`` on odd attribute values of spans and log records, so
#: what goes through it gets no ``Hostile``: the SDK itself would raise.)
INVALID_PLAIN = st.one_of(
    st.binary(max_size=20),
    st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -(2**70)]),
    st.builds(object),
    st.sets(st.integers(), max_size=3),
    st.just(decimal.Decimal("NaN")),
    st.just(complex(1, 2)),
)
INVALID = st.one_of(INVALID_PLAIN, st.builds(Hostile))
KEYS = st.one_of(TEXT, st.integers(), st.none(), st.tuples(st.integers()), st.floats())


def values(invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Scalars of every kind (``invalid`` among them), nested in lists and dicts."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        TEXT,
        st.just(datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)),
        invalid,
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=6),
            st.lists(inner, max_size=6).map(tuple),
            st.dictionaries(KEYS, inner, max_size=6),
        ),
        max_leaves=25,
    )


def attribute_maps(invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mixed keys and values, or thousands of plain attributes."""
    many = st.integers(255, 3000).map(lambda n: {f"attribute.{i}": i for i in range(n)})
    return st.one_of(st.dictionaries(KEYS, values(invalid), max_size=12), many)


VALUES = values(INVALID)
ATTRIBUTES = attribute_maps(INVALID)
#: A value deeply nested and wide enough to make one event larger than 1 MB.
OVERSIZED = [[["x" * 255] * 100] * 100]

_names = itertools.count()


def unique_name(prefix: str) -> str:
    return f"{prefix} {next(_names)}"


# -- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[MixpanelServer]:
    """One server for all examples (events are told apart by their names)."""
    with MixpanelServer() as started:
        yield started


@pytest.fixture(scope="module")
def span_exporter(server: MixpanelServer) -> Iterator[MixpanelSpanExporter]:
    exporter = MixpanelSpanExporter(
        token=server.token, api_host=server.url, retry_deadline=5.0
    )
    yield exporter
    exporter.shutdown()


@pytest.fixture(scope="module")
def log_exporter(server: MixpanelServer) -> Iterator[MixpanelLogExporter]:
    exporter = MixpanelLogExporter(
        token=server.token, api_host=server.url, retry_deadline=5.0
    )
    yield exporter
    exporter.shutdown()


@pytest.fixture(scope="module")
def app_logger(server: MixpanelServer) -> Iterator[tuple[logging.Logger, Any]]:
    handler = MixpanelHandler(
        token=server.token,
        api_host=server.url,
        retry_deadline=5.0,
        schedule_delay_millis=10,
    )
    logger = logging.getLogger("hostile.app")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.handlers = []
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    handler.close()


def raw_span(name: str, attributes: Any, span_id: int) -> ReadableSpan:
    """An ended span carrying ``attributes`` exactly as given (no SDK checks)."""
    now = time.time_ns()
    context = SpanContext(
        trace_id=0xABCDEF, span_id=span_id, is_remote=False, trace_flags=TraceFlags(1)
    )
    return ReadableSpan(
        name,
        context=context,
        attributes=attributes,
        start_time=now - 1_000_000,
        end_time=now,
    )


# -- exporters and handler ---------------------------------------------------


@HYPOTHESIS
@given(attributes=ATTRIBUTES, invalid=INVALID)
def test_span_exporter_takes_any_raw_attributes(
    server: MixpanelServer,
    span_exporter: MixpanelSpanExporter,
    attributes: dict[Any, Any],
    invalid: Any,
) -> None:
    """export() never raises on raw hostile spans; the valid one goes; drops count."""
    valid_name = unique_name("valid span")
    hostile = dict(attributes)
    hostile.update({"mixpanel.event": "hostile span", "bad.value": invalid})
    spans = [
        raw_span("hostile", hostile, next(_names) + 1),
        raw_span("valid", {"mixpanel.event": valid_name, "user.id": "u"}, 1 << 40),
    ]
    before = span_exporter.losses.total
    result = span_exporter.export(spans)
    assert span_exporter.losses.total > before
    assert len(server.events(valid_name)) == 1  # export() has delivered it
    assert result is SpanExportResult.SUCCESS


@HYPOTHESIS
@given(attributes=attribute_maps(INVALID_PLAIN))
def test_spans_with_hostile_attributes_through_the_sdk(
    server: MixpanelServer, attributes: dict[Any, Any]
) -> None:
    """Through a TracerProvider nothing raises and the valid span still goes out."""
    exporter = MixpanelSpanExporter(
        token=server.token, api_host=server.url, retry_deadline=5.0
    )
    provider = TracerProvider(span_limits=SpanLimits(max_attributes=5000))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hostile")
    valid_name = unique_name("valid sdk span")
    try:
        with tracer.start_as_current_span("hostile") as span:
            span.set_attribute("mixpanel.event", "hostile sdk span")
            for key, value in attributes.items():
                span.set_attribute(key, value)  # the SDK drops what it refuses
        with tracer.start_as_current_span("valid") as span:
            span.set_attribute("mixpanel.event", valid_name)
        assert len(server.events(valid_name)) == 1  # exported as the span ended
    finally:
        provider.shutdown()


@HYPOTHESIS
@given(
    attributes=attribute_maps(INVALID_PLAIN),
    body=values(INVALID_PLAIN),
    invalid=INVALID,
)
def test_log_exporter_takes_hostile_records(
    server: MixpanelServer,
    log_exporter: MixpanelLogExporter,
    attributes: dict[Any, Any],
    body: Any,
    invalid: Any,
) -> None:
    """export() never raises on hostile records; the valid one goes; drops count."""
    valid_name = unique_name("valid record")
    hostile_attributes = dict(attributes)
    hostile_attributes["mixpanel.event"] = "hostile record"
    records = [
        make_log_record(body, hostile_attributes),
        # A body the SDK passes through untouched: the exporter must drop it.
        make_log_record(invalid, {"mixpanel.event": "hostile body"}),
        make_log_record("ok", {"mixpanel.event": valid_name, "user.id": "u"}),
    ]
    before = log_exporter.losses.total
    result = log_exporter.export(records)
    assert log_exporter.losses.total > before
    assert len(server.events(valid_name)) == 1  # export() has delivered it
    assert result is LogExportResult.SUCCESS


@HYPOTHESIS
@given(extra=st.dictionaries(KEYS, VALUES, max_size=12), invalid=INVALID)
def test_handler_takes_hostile_extras(
    server: MixpanelServer,
    app_logger: tuple[logging.Logger, Any],
    extra: dict[Any, Any],
    invalid: Any,
) -> None:
    """Hostile ``extra`` never raises; drops count at once; valid records arrive."""
    logger, handler = app_logger
    reserved = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
    reserved |= {"message", "asctime"}  # logging itself refuses these keys
    hostile = {key: value for key, value in extra.items() if key not in reserved}
    hostile["bad.value"] = invalid
    valid_name = unique_name("valid log")
    before = handler.losses.total
    logger.info("hostile log", extra=hostile)
    assert handler.losses.total > before
    logger.info(valid_name, extra={"distinct_id": "u"})
    server.wait_for_events(1, name=valid_name, timeout=WAIT)


def test_an_oversized_event_does_not_take_its_batch_down(
    server: MixpanelServer, span_exporter: MixpanelSpanExporter
) -> None:
    """An event over 1 MB is dropped and counted; the valid one beside it goes out."""
    valid_name = unique_name("beside an oversized event")
    spans = [
        raw_span("big", {"mixpanel.event": "oversized", "nested": OVERSIZED}, 77),
        raw_span("valid", {"mixpanel.event": valid_name, "user.id": "u"}, 78),
    ]
    before = span_exporter.losses.snapshot().get("event too large", 0)
    span_exporter.export(spans)
    assert span_exporter.losses.snapshot()["event too large"] == before + 1
    assert len(server.events(valid_name)) == 1


# -- the direct client API ----------------------------------------------------

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(), inner, max_size=5)
    ),
    max_leaves=20,
)
#: Keys short enough to be quoted whole in an error message.
NAMED_KEYS = st.one_of(
    st.text(min_size=1, max_size=8),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "L"]), max_size=8),
)
#: The invalid values that are not valid JSON either (large integers are).
NOT_JSON = INVALID.filter(lambda value: not isinstance(value, int))


class Recorder:
    """A consumer that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, endpoint: str, message: str, *args: Any, **kwargs: Any) -> None:
        self.sent.append((endpoint, message))


@HYPOTHESIS
@given(
    properties=st.dictionaries(st.text(max_size=20), JSON_VALUES, max_size=8),
    key=NAMED_KEYS,
    parent=st.none() | NAMED_KEYS,
    invalid=NOT_JSON,
)
def test_client_refuses_the_same_values_naming_the_key(
    properties: dict[str, Any], key: str, parent: Any, invalid: Any
) -> None:
    """track() refuses a non-JSON value naming its key, not its value; sends nothing."""
    placed = dict(properties)
    if parent is None:
        placed[key] = invalid
    else:
        placed[parent] = {key: invalid}
    consumer = Recorder()
    client = Mixpanel("test-token", consumer=consumer)
    with pytest.raises(MixpanelException) as caught:
        client.track("user-1", "Hostile", placed)
    message = str(caught.value)
    assert repr(key) in message
    if isinstance(invalid, bytes) and len(invalid) >= 4:
        assert repr(invalid) not in message
    assert consumer.sent == []


@pytest.mark.parametrize(
    ("properties", "named"),
    [
        ({(1, 2): "x"}, "<tuple key>"),
        ({"outer": {frozenset(): 1}}, "['outer'][<frozenset key>]"),
        ({"score": math.nan}, "['score']"),
        ({"deep": [1, {"bytes": b"secret-bytes"}]}, "['deep'][1]['bytes']"),
    ],
)
def test_client_names_unencodable_keys_and_nested_values(
    properties: dict[Any, Any], named: str
) -> None:
    """Keys JSON cannot encode are named by their type, nested values by path."""
    consumer = Recorder()
    with pytest.raises(MixpanelException) as caught:
        Mixpanel("test-token", consumer=consumer).track("u", "e", properties)
    assert named in str(caught.value)
    assert "secret-bytes" not in str(caught.value)
    assert consumer.sent == []


def test_client_sends_what_json_can_hold_as_the_reference_does() -> None:
    """Valid JSON (huge, surrogate, deep, int keys) is sent as the reference does."""
    consumer = Recorder()
    properties = {
        "huge": "x" * 100_000,
        "surrogate": "\ud800",
        "deep": [[[[{"a": 1}]]]],
        "mapping": {1: "int key", None: "none key"},
    }
    Mixpanel("test-token", consumer=consumer).track("u", "e", properties)
    assert len(consumer.sent) == 1
