"""Transport security: certificates verified by default, no secrets over plain http.

Request building is checked by replacing ``requests``' transport adapter (no
network); verification itself against a self-signed certificate on loopback.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags
from requests.structures import CaseInsensitiveDict

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
from otel_mixpanel.testing import MixpanelServer

TOKEN = "test-token"
CREDENTIALS = ServiceAccountCredentials("sa-user", "sa-secret", "12345")


class Transport:
    """Stands in for requests' HTTP adapter: records each send, answers 200."""

    def __init__(self) -> None:
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        with self.lock:
            self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps({"status": 1, "error": None}).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.request = request
        response.url = request.url or ""
        return response

    def verify_values(self) -> list[Any]:
        with self.lock:
            return [kwargs.get("verify") for _, kwargs in self.sent]


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Transport:
    """No network: every request goes to a recorder; no MIXPANEL_* or CA bundle."""
    for name in list(os.environ):
        if name.startswith("MIXPANEL_") or name in (
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
        ):
            monkeypatch.delenv(name)
    recorder = Transport()
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter,
        "send",
        lambda adapter, request, **kwargs: recorder.send(request, **kwargs),
    )
    return recorder


def _client(consumer: Any) -> None:
    Mixpanel(TOKEN, consumer=consumer).track("u", "e")


def _buffered(**options: Any) -> None:
    with BufferedConsumer(**options) as consumer:
        _client(consumer)


def _background(**options: Any) -> None:
    consumer = BackgroundConsumer(schedule_delay_millis=10, **options)
    _client(consumer)
    assert consumer.flush(timeout=5)
    consumer.close(timeout=1)


def marked_span() -> ReadableSpan:
    """An ended span marked as an event, built without a provider."""
    now = time.time_ns()
    context = SpanContext(1, 5, is_remote=False, trace_flags=TraceFlags(1))
    attributes = {"mixpanel.event": "e"}
    return ReadableSpan(
        "s", context=context, attributes=attributes, start_time=now, end_time=now
    )


def _span_exporter(**options: Any) -> None:
    exporter = MixpanelSpanExporter(token=TOKEN, **options)
    exporter.export([marked_span()])
    exporter.shutdown()


def _log_exporter(**options: Any) -> None:
    exporter = MixpanelLogExporter(token=TOKEN, **options)
    exporter.export([make_log_record("x", {"mixpanel.event": "e"})])
    exporter.shutdown()


def _handler(**options: Any) -> None:
    handler = MixpanelHandler(token=TOKEN, schedule_delay_millis=10, **options)
    handler.handle(logging.LogRecord("tls.app", logging.INFO, "", 1, "e", (), None))
    handler.close()


#: Every public way of sending, built with no settings but the given ones.
PATHS: dict[str, Callable[..., None]] = {
    "Mixpanel": lambda **options: _client(Consumer(**options)),
    "Mixpanel default consumer": lambda **options: _client(None),
    "BufferedConsumer": _buffered,
    "BackgroundConsumer": _background,
    "MixpanelSpanExporter": _span_exporter,
    "MixpanelLogExporter": _log_exporter,
    "MixpanelHandler": _handler,
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_certificates_are_verified_by_default(transport: Transport, path: str) -> None:
    """With no setting at all, every request is made with verify=True."""
    PATHS[path]()
    assert transport.sent, "nothing was sent"
    assert set(transport.verify_values()) == {True}
    for request, _ in transport.sent:
        assert (request.url or "").startswith("https://api.mixpanel.com/")


@pytest.mark.parametrize("path", sorted(set(PATHS) - {"Mixpanel default consumer"}))
def test_verification_is_off_only_when_turned_off(
    transport: Transport, path: str
) -> None:
    """verify_cert=False is the one way to turn verification off."""
    PATHS[path](verify_cert=False)
    assert set(transport.verify_values()) == {False}


@pytest.mark.parametrize(
    ("value", "verify"), [("", True), ("true", True), ("1", True), ("false", False)]
)
def test_verify_variable(
    transport: Transport, monkeypatch: pytest.MonkeyPatch, value: str, verify: bool
) -> None:
    """MIXPANEL_VERIFY_CERT turns verification off only when it says so."""
    monkeypatch.setenv("MIXPANEL_VERIFY_CERT", value)
    _span_exporter()
    assert set(transport.verify_values()) == {verify}


def test_unreadable_verify_variable_is_an_error(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value that is not true or false is refused, not taken as off."""
    monkeypatch.setenv("MIXPANEL_VERIFY_CERT", "no-thanks")
    with pytest.raises(ValueError, match="MIXPANEL_VERIFY_CERT"):
        MixpanelSpanExporter(token=TOKEN)


# -- a real TLS handshake on loopback -----------------------------------------


class _Accepting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.handled += 1  # type: ignore[attr-defined]
        body = b'{"status":1,"error":null}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    handled = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed handshakes are expected here."""


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[_QuietServer]:
    """An https server on 127.0.0.1 with a self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _QuietServer(("127.0.0.1", 0), _Accepting)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_self_signed_certificate_is_refused_unless_verification_is_off(
    self_signed_https: _QuietServer,
) -> None:
    """An untrusted certificate fails by default; verify_cert=False accepts it."""
    url = f"https://127.0.0.1:{self_signed_https.server_address[1]}"
    strict = Consumer(api_host=url, retry_limit=0)
    with pytest.raises(MixpanelException):
        Mixpanel(TOKEN, consumer=strict).track("u", "e")
    lenient = Consumer(api_host=url, retry_limit=0, verify_cert=False)
    Mixpanel(TOKEN, consumer=lenient).track("u", "e")
    assert self_signed_https.handled == 1


# -- credentials and plain http ------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "http://mixpanel.example.com",
        "http://10.0.0.5:8080",
        "http://[2001:db8::1]",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.example",
        "http://127.0.0.1@evil.example",
    ],
)
@pytest.mark.parametrize(
    "secret",
    [{"credentials": CREDENTIALS}, {"api_secret": "an-api-secret"}],
    ids=["service account", "api secret"],
)
def test_secrets_are_never_sent_over_plain_http_to_a_remote_host(
    transport: Transport, host: str, secret: dict[str, Any]
) -> None:
    """An /import with a secret to a plain-http remote host is refused unsent."""
    consumer = Consumer(api_host=host, **secret)
    with pytest.raises(MixpanelException, match="plain http"):
        Mixpanel(TOKEN, consumer=consumer).import_data(None, "u", "e", 1.7e9)
    assert transport.sent == []


def test_exporter_refuses_too_and_counts_the_events(
    transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured by the environment, the exporter sends nothing and counts it."""
    monkeypatch.setenv("MIXPANEL_TOKEN", TOKEN)
    monkeypatch.setenv("MIXPANEL_API_HOST", "http://mixpanel.example.com")
    monkeypatch.setenv("MIXPANEL_API_SECRET", "an-api-secret")
    exporter = MixpanelSpanExporter()
    exporter.export([marked_span()])
    assert transport.sent == []
    assert exporter.losses.total == 1
    exporter.shutdown()


@pytest.mark.parametrize(
    "host",
    ["https://api-eu.mixpanel.com", "http://localhost:1", "http://[::1]:1"],
)
def test_secrets_go_over_https_or_to_loopback(transport: Transport, host: str) -> None:
    """https, and plain http to loopback (a local proxy or test server), are fine."""
    consumer = Consumer(api_host=host, credentials=CREDENTIALS)
    Mixpanel(TOKEN, consumer=consumer).import_data(None, "u", "e", 1.7e9)
    ((request, _),) = transport.sent
    assert request.headers["Authorization"].startswith("Basic ")


def test_credentials_go_to_import_only(mixpanel_server: MixpanelServer) -> None:
    """/track, /engage and /groups never carry the service account or secret."""
    consumer = Consumer(
        api_host=mixpanel_server.url, credentials=CREDENTIALS, api_secret="secret"
    )
    client = Mixpanel(TOKEN, consumer=consumer)
    client.track("u", "e")
    client.people_set("u", {"a": 1})
    client.group_set("company", "c", {"a": 1})
    client.import_data(None, "u", "e", 1.7e9)
    seen = {r.path: "authorization" in r.headers for r in mixpanel_server.requests()}
    assert seen == {
        "/track": False,
        "/engage": False,
        "/groups": False,
        "/import": True,
    }
