"""Throughput: span export against OTLP/HTTP, the floor, and the two clients.

Each function does one timed pass and returns seconds plus what the server
saw, so the runner can take medians over several runs.
"""

from __future__ import annotations

import gzip
import json
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple

import requests

from .servers import ServerProcess
from .workloads import (
    EVENT_NAME,
    TOKEN,
    batches,
    optional,
    properties,
    span_exporter,
    user_id,
)

Result = Dict[str, Any]


def export_ours(
    spans: List[Any], batch: int, mixpanel: ServerProcess, gzip: bool = True
) -> Optional[Result]:
    """Export ``spans`` in batches with MixpanelSpanExporter; None if missing."""
    exporter = span_exporter(mixpanel.url, gzip=gzip)
    if exporter is None:
        return None
    return _time_exporter(exporter, spans, batch, mixpanel)


def export_otlp(spans: List[Any], batch: int, otlp: ServerProcess) -> Result:
    """Export ``spans`` in batches with the OTLP/HTTP span exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )

    exporter = OTLPSpanExporter(endpoint=otlp.url + "/v1/traces")
    return _time_exporter(exporter, spans, batch, otlp)


def _time_exporter(
    exporter: Any, spans: List[Any], batch: int, server: ServerProcess
) -> Result:
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter.export(spans[:5])  # opens the connection, outside the timing
    server.take()
    failures = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for chunk in batches(spans, batch):
        if exporter.export(chunk) is not SpanExportResult.SUCCESS:
            failures += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    exporter.shutdown()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "failures": failures,
        "server": server.take(),
    }


@contextmanager
def captured_requests() -> Iterator[List[requests.PreparedRequest]]:
    """Record every request any ``requests.Session`` sends meanwhile."""
    sent: List[requests.PreparedRequest] = []
    original = requests.Session.send

    def send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        sent.append(request)
        return original(self, request, **kwargs)

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def capture_bodies(
    spans: List[Any], batch: int, mixpanel: ServerProcess
) -> Optional[List[Tuple[str, Dict[str, str], bytes]]]:
    """What our exporter sends for ``spans``: (url, headers, body) per request."""
    exporter = span_exporter(mixpanel.url)
    if exporter is None:
        return None
    with captured_requests() as sent:
        for chunk in batches(spans, batch):
            exporter.export(chunk)
    exporter.shutdown()
    mixpanel.take()
    wanted = ("Content-Type", "Content-Encoding", "Authorization")
    return [
        (
            str(request.url),
            {name: request.headers[name] for name in wanted if name in request.headers},
            request.body if isinstance(request.body, bytes) else b"",
        )
        for request in sent
    ]


def floor(
    captured: List[Tuple[str, Dict[str, str], bytes]], mixpanel: ServerProcess
) -> Result:
    """json.dumps the same messages, then POST the same precomputed bodies."""
    documents = [json.loads(_decoded(headers, body)) for _, headers, body in captured]
    session = requests.Session()
    url, headers, body = captured[0]
    session.post(url, data=body, headers=headers)  # opens the connection
    mixpanel.take()

    cpu = time.process_time()
    start = time.perf_counter()
    for document in documents:
        json.dumps(document, separators=(",", ":"))
    serialized = time.perf_counter()
    for url, headers, body in captured:
        session.post(url, data=body, headers=headers).raise_for_status()
    posted = time.perf_counter()
    cpu = time.process_time() - cpu
    session.close()

    compress_start = time.perf_counter()
    for _, headers, body in captured:
        if headers.get("Content-Encoding") == "gzip":
            gzip.compress(gzip.decompress(body), compresslevel=1)
    compress = time.perf_counter() - compress_start
    return {
        "seconds": posted - start,
        "cpu": cpu,
        "serialize": serialized - start,
        "post": posted - serialized,
        "gzip_roundtrip": compress,
        "server": mixpanel.take(),
    }


def _decoded(headers: Dict[str, str], body: bytes) -> bytes:
    if headers.get("Content-Encoding") == "gzip":
        return gzip.decompress(body)
    return body


def track_official(count: int, max_size: int, mixpanel: ServerProcess) -> Result:
    """``count`` track calls through mixpanel 5.4.1's BufferedConsumer."""
    import mixpanel as official

    consumer = official.BufferedConsumer(
        max_size=max_size, events_url=mixpanel.url + "/track"
    )
    client = official.Mixpanel(TOKEN, consumer=consumer)
    return _time_tracks(client, consumer, count, mixpanel)


def track_ours(
    count: int, max_size: int, mixpanel: ServerProcess, gzip: bool = True
) -> Result:
    """``count`` track calls through our client and BufferedConsumer."""
    import otel_mixpanel

    buffered = optional("BufferedConsumer")
    assert buffered is not None
    consumer = buffered(max_size=max_size, api_host=mixpanel.url, gzip=gzip)
    client = otel_mixpanel.Mixpanel(TOKEN, consumer=consumer)
    result = _time_tracks(client, consumer, count, mixpanel)
    consumer.close()
    return result


def _time_tracks(
    client: Any, consumer: Any, count: int, mixpanel: ServerProcess
) -> Result:
    properties_by_call = [properties(index) for index in range(count)]
    mixpanel.take()
    cpu = time.process_time()
    start = time.perf_counter()
    for index in range(count):
        client.track(user_id(index), EVENT_NAME, properties_by_call[index])
    consumer.flush()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "server": mixpanel.take()}
