"""Credentials never show up in logs, reprs or exception messages.

One scenario runs every public path with distinctive credentials, successes
and failures alike (401, 503, a wrong token or secret, timeouts, connection
refused, plain http refused, an outage, shutdown, a forked child), with every
logger at DEBUG writing to one file; the tests then search the log file, the
reprs of every public object and every exception raised.
"""

from __future__ import annotations

import base64
import logging
import os
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_mixpanel import (
    BackgroundConsumer,
    BufferedConsumer,
    Consumer,
    Mixpanel,
    MixpanelException,
    MixpanelHandler,
    MixpanelLogExporter,
    MixpanelSpanExporter,
    ServiceAccountCredentials,
)
from otel_mixpanel._sdk_logs import make_log_record
from otel_mixpanel._settings import load_delivery
from otel_mixpanel.testing import MixpanelServer

TOKEN = "tok-5b1e9c0d7a"
WRONG_TOKEN = "tok-44aa0e91c3"
API_SECRET = "apisec-90c3e1f5"
SA_USER = "sa-user"
SA_SECRET = "sasec-7f02bd6e"
WRONG_SA_SECRET = "sasec-11c8a2d4"
PROJECT_ID = "12345"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


#: Every credential, plus the forms they take in an Authorization header.
SECRETS = [
    TOKEN,
    WRONG_TOKEN,
    API_SECRET,
    SA_SECRET,
    WRONG_SA_SECRET,
    _basic(SA_USER, SA_SECRET),
    _basic(SA_USER, WRONG_SA_SECRET),
    _basic(API_SECRET, ""),
    _basic(TOKEN, ""),
]
#: A piece of each secret, to catch a truncated or partly masked one.
FRAGMENTS = ["5b1e9c0d", "44aa0e91", "90c3e1f5", "7f02bd6e", "11c8a2d4"]
FAST = {"retry_backoff_factor": 0.01, "request_timeout": 0.5}


@dataclass
class Scenario:
    """What running every path left behind."""

    log_text: str = ""
    objects: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def attempt(self, call: Callable[[], Any]) -> None:
        """Run ``call``; keep any exception it raises."""
        try:
            call()
        except Exception as error:
            self.errors.append(error)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS + FRAGMENTS if secret in text]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Run every path once with all loggers at DEBUG into one file."""
    log_file = tmp_path_factory.mktemp("logs") / "all.log"
    handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(
        logging.Formatter("%(process)d %(name)s %(levelname)s %(message)s")
    )
    root = logging.getLogger()
    saved = {
        name: logging.getLogger(name).level
        for name in ("", "otel_mixpanel", "urllib3", "requests", "opentelemetry")
    }
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.captureWarnings(True)
    result = Scenario()
    try:
        with MixpanelServer(
            token=TOKEN,
            service_account=(SA_USER, SA_SECRET),
            project_id=PROJECT_ID,
            api_secret=API_SECRET,
        ) as server:
            run_every_path(server, result)
            result.objects.extend(server.requests())
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    result.log_text = Path(log_file).read_text(encoding="utf-8")
    yield result


def run_every_path(server: MixpanelServer, result: Scenario) -> None:
    credentials = ServiceAccountCredentials(SA_USER, SA_SECRET, PROJECT_ID)
    wrong = ServiceAccountCredentials(SA_USER, WRONG_SA_SECRET, PROJECT_ID)
    attempt = result.attempt
    keep = result.objects.extend

    # The direct client through a Consumer: every call, then failures.
    consumer = Consumer(api_host=server.url, credentials=credentials, **FAST)
    client = Mixpanel(TOKEN, consumer=consumer)
    attempt(lambda: client.track("u1", "Tracked", {"plan": "pro"}))
    attempt(lambda: client.import_data(None, "u1", "Imported", time.time()))
    attempt(lambda: client.people_set("u1", {"name": "Ann"}))
    attempt(lambda: client.people_increment("u1", {"visits": 1}))
    attempt(lambda: client.group_set("company", "c1", {"size": 3}))
    attempt(lambda: client.alias("u1-alias", "u1"))
    attempt(lambda: client.merge(None, "u1", "u2"))
    attempt(  # deprecated key arguments: warned about by name only
        lambda: client.import_data(
            TOKEN, "u1", "Old style", time.time(), api_secret=API_SECRET
        )
    )
    server.fail_next(1, status=401, endpoint="imports")
    attempt(lambda: client.import_data(None, "u1", "Unauthorized", time.time()))
    server.fail_next(2, status=503, retry_after=0.01)
    attempt(lambda: client.track("u1", "After 503s"))
    server.fail_next(1, status=500)
    attempt(lambda: client.people_increment("u1", {"visits": 1}))  # not resent
    server.stall_next(1, 1.0)
    attempt(lambda: client.track("u1", "After a timeout"))
    attempt(lambda: Mixpanel(WRONG_TOKEN, consumer=consumer).track("u1", "Bad"))
    wrong_consumer = Consumer(api_host=server.url, credentials=wrong, **FAST)
    attempt(
        lambda: Mixpanel(TOKEN, consumer=wrong_consumer).import_data(
            None, "u1", "Wrong secret", time.time()
        )
    )
    secret_consumer = Consumer(api_host=server.url, api_secret=API_SECRET, **FAST)
    attempt(
        lambda: Mixpanel(TOKEN, consumer=secret_consumer).import_data(
            None, "u1", "By API secret", time.time()
        )
    )
    refused = Consumer(
        api_host="http://127.0.0.1:9", credentials=credentials, retry_limit=1, **FAST
    )
    attempt(lambda: Mixpanel(TOKEN, consumer=refused).track("u1", "Refused"))
    remote = Consumer(api_host="http://mixpanel.invalid", credentials=credentials)
    attempt(
        lambda: Mixpanel(TOKEN, consumer=remote).import_data(
            None, "u1", "Plain http", time.time()
        )
    )
    keep([client, consumer, wrong_consumer, secret_consumer, refused, remote])
    keep([credentials, wrong])

    # BufferedConsumer: a flush that works, one that fails, close.
    buffered = BufferedConsumer(
        api_host=server.url, credentials=credentials, api_secret=API_SECRET, **FAST
    )
    buffered_client = Mixpanel(TOKEN, consumer=buffered)
    buffered_client.track("u2", "Buffered")
    buffered_client.import_data(None, "u2", "Buffered import", time.time())
    attempt(buffered.flush)
    server.set_down(True)
    buffered_client.track("u2", "During an outage")
    attempt(lambda: buffered.flush(timeout=0.3))
    attempt(lambda: buffered.close(timeout=0.1))
    server.set_down(False)
    keep([buffered, buffered_client])

    # BackgroundConsumer: delivery, an outage, close, and a forked child.
    background = BackgroundConsumer(
        api_host=server.url,
        credentials=credentials,
        api_secret=API_SECRET,
        schedule_delay_millis=20,
        **FAST,
    )
    background_client = Mixpanel(TOKEN, consumer=background)
    background_client.track("u3", "Background")
    background_client.import_data(None, "u3", "Background import", time.time())
    attempt(lambda: background.flush(timeout=5))
    run_forked_child(background_client, background)
    server.set_down(True)
    background_client.track("u3", "Lost in the outage")
    attempt(lambda: background.flush(timeout=0.3))
    attempt(lambda: background.close(timeout=0.3))
    server.set_down(False)
    keep([background, background_client])

    # Span exporters, to /import by service account and by API secret.
    for options in (
        {
            "service_account_username": SA_USER,
            "service_account_secret": SA_SECRET,
            "project_id": PROJECT_ID,
        },
        {"api_secret": API_SECRET},
    ):
        exporter = MixpanelSpanExporter(
            token=TOKEN, api_host=server.url, retry_deadline=1.0, **options
        )
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("secrets")
        with tracer.start_as_current_span("ok", attributes={"mixpanel.event": "S"}):
            pass
        server.fail_next(1, status=401, endpoint="imports")
        with tracer.start_as_current_span("no", attributes={"mixpanel.event": "F"}):
            pass
        server.set_down(True)
        with tracer.start_as_current_span("down", attributes={"mixpanel.event": "D"}):
            pass
        exporter.shutdown(timeout_millis=300)  # during the outage
        provider.shutdown()
        server.set_down(False)
        keep([exporter, provider])

    # The log record exporter and the logging handler.
    log_exporter = MixpanelLogExporter(
        token=TOKEN, api_host=server.url, api_secret=API_SECRET, retry_deadline=1.0
    )
    log_exporter.export([make_log_record("hello", {"mixpanel.event": "Logged"})])
    server.fail_next(1, status=401, endpoint="imports")
    log_exporter.export([make_log_record("no", {"mixpanel.event": "Refused log"})])
    log_exporter.shutdown()
    handler = MixpanelHandler(
        token=TOKEN,
        api_host=server.url,
        service_account_username=SA_USER,
        service_account_secret=SA_SECRET,
        project_id=PROJECT_ID,
        schedule_delay_millis=20,
        retry_deadline=1.0,
        close_timeout=1.0,
    )
    app = logging.getLogger("secrets.app")
    app.addHandler(handler)
    app.warning("Checked out", extra={"distinct_id": "u4"})
    server.set_down(True)
    app.warning("During an outage", extra={"distinct_id": "u4"})
    app.removeHandler(handler)
    handler.close()
    server.set_down(False)
    keep([log_exporter, handler])

    # Settings and constructor errors.
    settings = load_delivery(
        token=TOKEN,
        api_secret=API_SECRET,
        service_account_username=SA_USER,
        service_account_secret=SA_SECRET,
        project_id=PROJECT_ID,
    )
    keep([settings])
    attempt(lambda: load_delivery(token=TOKEN, request_timeout="soon"))
    attempt(lambda: MixpanelSpanExporter(token=TOKEN, unknown=API_SECRET))
    attempt(lambda: ServiceAccountCredentials(SA_USER, "  ", PROJECT_ID))
    attempt(lambda: MixpanelHandler(token=TOKEN, exporter=log_exporter))
    attempt(lambda: Mixpanel(TOKEN).track(None, "No id"))
    attempt(lambda: client.track("u1", "Bad value", {"secret": float("nan")}))


def run_forked_child(client: Mixpanel, background: BackgroundConsumer) -> None:
    """A child forked with the consumer tracks, flushes and logs to the file."""
    if not hasattr(os, "fork"):
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            client.track("child", "From the child")
            code = 0 if background.flush(timeout=5) else 2
            background.close(timeout=1)
        finally:
            for handler in logging.getLogger().handlers:
                handler.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_no_credential_in_any_log_output(scenario: Scenario) -> None:
    """No credential is logged, at any level, by any logger, on any path."""
    text = scenario.log_text
    # The capture worked: the package, the HTTP client and the child logged.
    assert "otel_mixpanel." in text
    assert "urllib3.connectionpool" in text
    assert "lost" in text  # the outages' loss warnings
    assert len({line.split(" ", 1)[0] for line in text.splitlines() if line}) >= 2
    assert leaked(text) == []


def test_no_credential_in_any_repr_or_str(scenario: Scenario) -> None:
    """repr() and str() of every public object leave the credentials out."""
    assert len(scenario.objects) > 15
    for item in scenario.objects:
        assert leaked(repr(item)) == [], type(item).__name__
        assert leaked(str(item)) == [], type(item).__name__


def test_no_credential_in_any_exception_message(scenario: Scenario) -> None:
    """Exceptions raised on the way (and their causes) name no credential."""
    # A failed flush's ``MixpanelException.message`` is the batch itself, as in
    # the reference client, so it holds the events' project token; its text
    # (``str``), ``repr``, ``args`` and traceback do not.
    assert len(scenario.errors) >= 10
    assert any(isinstance(error, MixpanelException) for error in scenario.errors)
    for error in scenario.errors:
        shown = "".join(
            traceback.format_exception(type(error), error, error.__traceback__)
        )
        for text in (str(error), repr(error), repr(error.args), shown):
            assert leaked(text) == [], type(error).__name__
