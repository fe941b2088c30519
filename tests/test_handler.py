"""Tests of MixpanelHandler: records to events, feedback, dictConfig, threads."""

from __future__ import annotations

import logging
import logging.config
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry import context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.trace import TracerProvider

from otel_mixpanel import MixpanelHandler, MixpanelLogExporter
from otel_mixpanel.testing import MixpanelServer

JOIN_TIMEOUT = 20.0


@pytest.fixture
def handlers(mixpanel_server: MixpanelServer) -> Iterator[Any]:
    """Build handlers aimed at the server; close them at teardown."""
    built: list[MixpanelHandler] = []

    def build(**options: Any) -> MixpanelHandler:
        options.setdefault("token", mixpanel_server.token)
        options.setdefault("api_host", mixpanel_server.url)
        options.setdefault("schedule_delay_millis", 20)
        options.setdefault("retry_deadline", 2.0)
        handler = MixpanelHandler(**options)
        built.append(handler)
        return handler

    yield build
    for handler in built:
        handler.close()


_TOUCHED: list[logging.Logger] = []


@pytest.fixture(autouse=True)
def _reset_app_loggers() -> Iterator[None]:
    """Give the loggers a test configured back their default settings."""
    yield
    while _TOUCHED:
        logger = _TOUCHED.pop()
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def app_logger(handler: logging.Handler, name: str = "shop") -> logging.Logger:
    """A DEBUG logger of the application with only ``handler``."""
    logger = logging.getLogger(name)
    _TOUCHED.append(logger)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def close_in_thread(handler: logging.Handler) -> None:
    """Close ``handler`` on another thread and fail if that does not end."""
    closer = threading.Thread(target=handler.close)
    closer.start()
    closer.join(JOIN_TIMEOUT)
    assert not closer.is_alive(), "close() did not return"


def test_record_mapping(handlers, mixpanel_server):
    """Name: the unformatted message; message, extras, level, logger: properties."""
    log = app_logger(handlers())
    log.info(
        "User %s signed up",
        "bob",
        extra={"distinct_id": "bob", "plan": "pro", "api_token": "secret!"},
    )
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "User %s signed up"
    properties = event["properties"]
    assert properties["message"] == "User bob signed up"
    assert properties["distinct_id"] == "bob"
    assert properties["plan"] == "pro"
    assert properties["level"] == "INFO"
    assert properties["logger.name"] == "shop"
    for standard in ("msg", "args", "lineno", "pathname", "thread", "created"):
        assert standard not in properties
    assert "api_token" not in properties
    assert "trace_id" not in properties


def test_event_name_extra_profile_and_group(handlers, mixpanel_server):
    """mixpanel.event names the event; mixpanel.people/group extras work as in spans."""
    log = app_logger(handlers())
    log.warning(
        "Checkout by %s",
        "u1",
        extra={
            "mixpanel.event": "Checked out",
            "user.id": "u1",
            "mixpanel.people.increment.orders": 1,
            "mixpanel.group.company_id": "acme",
        },
    )
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Checked out"
    assert event["properties"]["distinct_id"] == "u1"
    assert event["properties"]["company_id"] == "acme"
    assert event["properties"]["level"] == "WARNING"
    (update,) = mixpanel_server.wait_for_people(1)
    assert update["$distinct_id"] == "u1"
    assert update["$add"] == {"orders": 1}


def test_exception_details(handlers, mixpanel_server):
    """logger.exception adds exception.type and exception.message, no stack trace."""
    log = app_logger(handlers())
    try:
        raise KeyError("sku-42")
    except KeyError:
        log.exception("Lookup failed")
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["properties"]["exception.type"] == "KeyError"
    assert event["properties"]["exception.message"] == "'sku-42'"
    assert "exception.stacktrace" not in event["properties"]
    assert event["properties"]["level"] == "ERROR"


def test_trace_ids_inside_a_span(handlers, mixpanel_server):
    """A record logged inside a span carries its trace_id and span_id."""
    log = app_logger(handlers())
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("request") as span:
        log.info("Inside")
        span_context = span.get_span_context()
    log.info("Outside")
    mixpanel_server.wait_for_events(2)
    (inside,) = mixpanel_server.events("Inside")
    (outside,) = mixpanel_server.events("Outside")
    assert inside["properties"]["trace_id"] == format(span_context.trace_id, "032x")
    assert inside["properties"]["span_id"] == format(span_context.span_id, "016x")
    assert "trace_id" not in outside["properties"]


def test_root_logger_at_debug_sends_only_the_application_events(
    handlers, mixpanel_server
):
    """On a DEBUG root logger, HTTP-client and delivery records never become events."""
    handler = handlers()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    log = logging.getLogger("shop.app")
    with requests.Session() as session:
        for number in range(3):
            session.get(mixpanel_server.url + "/health")  # urllib3 debug lines
            log.info("Page %d viewed", number)
        mixpanel_server.wait_for_events(3)
        log.info("Last page viewed")  # after deliveries that logged at DEBUG
    mixpanel_server.wait_for_events(4)
    close_in_thread(handler)
    events = mixpanel_server.events()
    assert sorted(event["event"] for event in events) == [
        "Last page viewed",
        "Page %d viewed",
        "Page %d viewed",
        "Page %d viewed",
    ]
    assert {event["properties"]["logger.name"] for event in events} == {"shop.app"}


def test_ignored_loggers_and_suppressed_context(handlers, mixpanel_server):
    """Records of delivery loggers, or logged while suppressed, are not exported."""
    handler = handlers()
    for name in (
        "urllib3.connectionpool",
        "requests",
        "otel_mixpanel",
        "opentelemetry",
    ):
        app_logger(handler, name).warning("feedback")
    token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        app_logger(handler).warning("suppressed")
    finally:
        context.detach(token)
    app_logger(handler, "urllib3_app").warning("kept")
    mixpanel_server.wait_for_events(1)
    close_in_thread(handler)
    assert [event["event"] for event in mixpanel_server.events()] == ["kept"]


def warm_server_logger() -> None:
    """Let the in-process test server log while dictConfig holds logging's lock.

    The handler's final delivery runs inside dictConfig; a remote Mixpanel does
    not care, but this server's request threads log, and a logger whose level
    cache dictConfig just cleared waits for that lock until close_timeout.
    """
    logging.getLogger("otel_mixpanel.testing._handler").isEnabledFor(logging.DEBUG)


def test_dict_config_twice_neither_deadlocks_nor_loses(mixpanel_env):
    """dictConfig naming the class works, and reconfiguring delivers what was queued."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "mixpanel": {
                "class": "otel_mixpanel.MixpanelHandler",
                "level": "DEBUG",
                "schedule_delay_millis": "60000",  # only close() delivers
            }
        },
        "root": {"level": "DEBUG", "handlers": ["mixpanel"]},
    }
    log = logging.getLogger("shop.config")

    def configure() -> None:
        configurer = threading.Thread(target=logging.config.dictConfig, args=(config,))
        configurer.start()
        configurer.join(JOIN_TIMEOUT)
        assert not configurer.is_alive(), "dictConfig deadlocked"

    configure()
    first = logging.getLogger().handlers[-1]
    assert isinstance(first, MixpanelHandler)
    for number in range(5):
        log.info("Before reconfiguring", extra={"number": number})
    warm_server_logger()
    configure()
    mixpanel_env.wait_for_events(5)
    second = logging.getLogger().handlers[-1]
    assert second is not first
    for number in range(5):
        log.info("After reconfiguring", extra={"number": number})
    logging.getLogger().removeHandler(second)
    close_in_thread(second)
    events = mixpanel_env.wait_for_events(10)
    assert len(events) == 10
    assert len({event["properties"]["$insert_id"] for event in events}) == 10
    assert first.losses.total == 0
    assert second.losses.total == 0
    for name in ("Before reconfiguring", "After reconfiguring"):
        numbers = sorted(e["properties"]["number"] for e in mixpanel_env.events(name))
        assert numbers == [0, 1, 2, 3, 4]


def test_eight_threads_lose_and_duplicate_nothing(handlers, mixpanel_server):
    """8 threads logging at once: every record arrives once, each $insert_id unique."""
    log = app_logger(handlers(max_queue_size=4096))
    start = threading.Barrier(8)

    def work(thread_number: int) -> None:
        start.wait()
        for number in range(50):
            log.info("Clicked", extra={"worker": thread_number, "number": number})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    events = mixpanel_server.wait_for_events(400)
    assert len(events) == 400
    assert len({event["properties"]["$insert_id"] for event in events}) == 400
    seen = {(e["properties"]["worker"], e["properties"]["number"]) for e in events}
    assert len(seen) == 400


class Hostile:
    """Raises from every conversion a logging library might try."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __iter__(self) -> Any:
        raise RuntimeError("no iter")


class HostileList(list):
    """A list subclass whose iteration fails."""

    def __iter__(self) -> Any:
        raise RuntimeError("no iter")


def test_hostile_extras_are_dropped_and_counted(handlers, mixpanel_server, monkeypatch):
    """Bad extra values never raise: valid ones arrive, bad ones are counted."""
    handler = handlers()
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    extra: dict[Any, Any] = {
        "ok": "fine",
        "nested": {"a": [1, 2], "b": {"c": None}},
        "hostile": Hostile(),
        "hostile_list": HostileList([1]),
        "nan": math.nan,
        "huge": 2**70,
        "raw": b"\x00bytes",
        "generator": (n for n in range(3)),
        7: "non-string key",
    }
    app_logger(handler).info("Hostile", extra=extra)
    (event,) = mixpanel_server.wait_for_events(1)
    assert errors == []
    assert event["properties"]["ok"] == "fine"
    assert event["properties"]["nested"] == {"a": [1, 2], "b": {"c": None}}
    for bad in ("hostile", "hostile_list", "nan", "huge", "raw", "generator", "7"):
        assert bad not in event["properties"]
    assert handler.losses.snapshot() == {"invalid property": 7}


def test_unformattable_message_goes_to_handle_error(handlers, monkeypatch):
    """A record whose message cannot be formatted goes to handleError, not up."""
    handler = handlers()
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    app_logger(handler).info("%d items", "not a number")
    assert len(errors) == 1


def test_no_argument_constructor_reads_the_environment(mixpanel_env):
    """MixpanelHandler() works from MIXPANEL_* variables alone."""
    handler = MixpanelHandler()
    app_logger(handler).info("From env")
    close_in_thread(handler)
    (event,) = mixpanel_env.wait_for_events(1)
    assert event["event"] == "From env"


def test_constructor_errors(monkeypatch, mixpanel_server):
    """A missing token names MIXPANEL_TOKEN; exporter plus settings is refused."""
    monkeypatch.delenv("MIXPANEL_TOKEN", raising=False)
    with pytest.raises(ValueError, match="MIXPANEL_TOKEN"):
        MixpanelHandler()
    exporter = MixpanelLogExporter(token="t", api_host=mixpanel_server.url)
    with pytest.raises(TypeError):
        MixpanelHandler(exporter=exporter, token="t")
    exporter.shutdown()


def test_given_exporter_and_level(handlers, mixpanel_server):
    """An exporter can be passed in; the level filters as usual."""
    exporter = MixpanelLogExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    handler = MixpanelHandler(
        logging.WARNING, exporter=exporter, schedule_delay_millis=20
    )
    log = app_logger(handler)
    log.info("Too low")
    log.warning("High enough")
    close_in_thread(handler)
    assert [event["event"] for event in mixpanel_server.events()] == ["High enough"]


def test_flush_returns_and_close_is_idempotent(handlers, mixpanel_server):
    """flush() neither delivers nor waits; close() delivers; later records count."""
    handler = handlers(schedule_delay_millis=60000)
    log = app_logger(handler)
    log.info("Queued")
    handler.flush()
    assert mixpanel_server.events() == []
    close_in_thread(handler)
    assert [event["event"] for event in mixpanel_server.events()] == ["Queued"]
    handler.close()
    log.info("Too late")
    assert handler.losses.snapshot() == {"log record after close": 1}


def test_close_is_bounded_when_mixpanel_does_not_answer(handlers, mixpanel_server):
    """With Mixpanel silent, close() returns after its timeout and counts the loss."""
    handler = handlers(schedule_delay_millis=60000, close_timeout=0.3)
    mixpanel_server.pause()
    app_logger(handler).info("Stuck")
    close_in_thread(handler)
    mixpanel_server.resume()
    assert handler.losses.total >= 1


def test_close_abandons_an_export_that_outlives_the_timeout(
    handlers, mixpanel_server, caplog
):
    """An export stuck past close_timeout is cut short; close() still returns."""
    caplog.set_level(logging.DEBUG, logger="otel_mixpanel._handler")
    handler = handlers(close_timeout=0.3, retry_deadline=30.0)
    mixpanel_server.pause()
    app_logger(handler).info("Held")
    mixpanel_server.wait_for(lambda server: server.held_requests() == 1)
    close_in_thread(handler)
    mixpanel_server.resume()
    assert "outlived the close timeout" in caplog.text
