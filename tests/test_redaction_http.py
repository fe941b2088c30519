"""The default redaction list, through the HTTP instrumentation's real attributes.

opentelemetry-instrumentation-requests records every request and response
header (``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_*=".*"``) as
``http.request.header.<name>`` / ``http.response.header.<name>`` span
attributes; the exporter, sending every span, must keep the credentials out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_mixpanel import MixpanelSpanExporter
from otel_mixpanel.testing import MixpanelServer

SECRET = "s3cr3t-v4lue"
REQUEST_HEADERS = {
    "Authorization": f"Bearer {SECRET}-bearer",
    "Proxy-Authorization": f"Basic {SECRET}-proxy",
    "Cookie": f"session={SECRET}-cookie",
    "X-Api-Key": f"{SECRET}-api-key",
    "X-Auth-Token": f"{SECRET}-auth-token",
    "X-CSRF-Token": f"{SECRET}-csrf",
    "X-Client-Secret": f"{SECRET}-client-secret",
    "X-Amz-Security-Token": f"{SECRET}-amz",
    "X-Request-Id": "request-42",  # not a credential: must be kept
}
RESPONSE_HEADERS = {
    "Set-Cookie": f"session={SECRET}-set-cookie; HttpOnly",
    "X-Refresh-Token": f"{SECRET}-refresh",
    "X-Served-By": "backend-7",  # not a credential: must be kept
}
KEPT = {"X-Request-Id", "X-Served-By"}


class _Backend(BaseHTTPRequestHandler):
    """An application backend answering with credentials in its headers."""

    def do_GET(self) -> None:
        self.send_response(200)
        for name, value in RESPONSE_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def backend() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def traced(
    mixpanel_server: MixpanelServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TracerProvider]:
    """requests instrumented to capture all headers; every span goes to Mixpanel."""
    prefix = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_"
    monkeypatch.setenv(prefix + "CLIENT_REQUEST", ".*")
    monkeypatch.setenv(prefix + "CLIENT_RESPONSE", ".*")
    monkeypatch.delenv(prefix + "SANITIZE_FIELDS", raising=False)
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token,
        api_host=mixpanel_server.url,
        export_all_spans=True,
        retry_deadline=5.0,
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def exported_request(server: MixpanelServer) -> dict[str, Any]:
    """The one event the instrumented GET became."""
    (event,) = server.wait_for_events(1, timeout=10)
    return event


def test_credential_headers_never_reach_mixpanel(
    mixpanel_server: MixpanelServer, traced: TracerProvider, backend: str
) -> None:
    """Credential headers of requests and responses are dropped; others are sent."""
    response = requests.get(backend + "/orders", headers=REQUEST_HEADERS, timeout=5)
    assert response.status_code == 200
    event = exported_request(mixpanel_server)
    properties = event["properties"]
    assert properties["http.request.header.x_request_id"] == ["request-42"]
    assert properties["http.response.header.x_served_by"] == ["backend-7"]
    assert SECRET not in json.dumps(event)
    for name in [*REQUEST_HEADERS, *RESPONSE_HEADERS]:
        if name not in KEPT:
            attribute = "header." + name.lower().replace("-", "_")
            assert not any(key.endswith(attribute) for key in properties), name


def test_password_in_the_url_never_reaches_mixpanel(
    mixpanel_server: MixpanelServer, traced: TracerProvider, backend: str
) -> None:
    """A user:password in the URL is not sent (the instrumentation redacts it)."""
    url = backend.replace("http://", f"http://alice:{SECRET}-password@") + "/login"
    requests.get(url, timeout=5)
    event = exported_request(mixpanel_server)
    assert SECRET not in json.dumps(event)


def test_token_in_the_query_string_never_reaches_mixpanel(
    mixpanel_server: MixpanelServer, traced: TracerProvider, backend: str
) -> None:
    """A token passed as a query parameter is not sent."""
    requests.get(f"{backend}/feed?access_token={SECRET}-query", timeout=5)
    event = exported_request(mixpanel_server)
    assert SECRET not in json.dumps(event)
