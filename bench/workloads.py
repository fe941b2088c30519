"""What the benchmarks send: sizes, the shared properties and the finished spans.

Every measurement uses the same ten span attributes (strings, numbers, a bool,
an array, ``mixpanel.event`` and ``user.id``), so spans, ``track`` calls and
log records carry the same data.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

TOKEN = "bench-token"
EVENT_NAME = "Checkout completed"
USERS = 1000


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    spans: int = 20_000
    span_batch: int = 512
    tracks: int = 20_000
    calls: int = 20_000
    wire_events: int = 10_000
    runs: int = 5
    outage_seconds: float = 60.0
    rate: int = 2_000

    @classmethod
    def quick(cls, outage_seconds: Optional[float] = None) -> Sizes:
        """A tiny workload for the smoke test."""
        return cls(
            spans=600,
            span_batch=128,
            tracks=300,
            calls=300,
            wire_events=500,
            runs=1,
            outage_seconds=2.0 if outage_seconds is None else outage_seconds,
            rate=500,
        )


def user_id(index: int) -> str:
    """The distinct id of the ``index``-th call (a thousand users in turn)."""
    return f"user-{index % USERS:04d}"


def properties(index: int) -> Dict[str, Any]:
    """The eight properties besides the event name and the user id."""
    return {
        "http.route": "/api/cart/checkout",
        "http.request.method": "POST",
        "plan": "pro" if index % 3 else "free",
        "http.response.status_code": 200,
        "cart.total": 42.5 + index % 100,
        "cart.items": 1 + index % 7,
        "feature.new_checkout": index % 2 == 0,
        "cart.skus": ["sku-1001", "sku-2002", f"sku-{index % 50:04d}"],
    }


def span_attributes(index: int) -> Dict[str, Any]:
    """All ten attributes of the ``index``-th span."""
    attributes = {"mixpanel.event": EVENT_NAME, "user.id": user_id(index)}
    attributes.update(properties(index))
    return attributes


def build_spans(count: int) -> List[Any]:
    """Finished ``ReadableSpan`` objects made by the real SDK, one per index."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    collector = InMemorySpanExporter()
    resource = Resource.create(
        {
            "service.name": "checkout",
            "service.version": "1.4.2",
            "deployment.environment.name": "bench",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("bench")
    for index in range(count):
        with tracer.start_as_current_span(
            "POST /api/cart/checkout", attributes=span_attributes(index)
        ):
            pass
    spans = list(collector.get_finished_spans())
    provider.shutdown()
    return spans


def batches(items: List[Any], size: int) -> List[List[Any]]:
    """``items`` cut into lists of ``size`` (the last one may be shorter)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def optional(name: str) -> Optional[Any]:
    """``otel_mixpanel.<name>`` when that piece exists yet, else None."""
    module = importlib.import_module("otel_mixpanel")
    found = getattr(module, name, None)
    if found is not None:
        return found
    private = {
        "BufferedConsumer": "otel_mixpanel._buffered",
        "Consumer": "otel_mixpanel._consumer",
        "BackgroundConsumer": "otel_mixpanel._background",
        "MixpanelSpanExporter": "otel_mixpanel._span_exporter",
        "MixpanelHandler": "otel_mixpanel._handler",
    }.get(name)
    if private is None:
        return None
    try:
        return getattr(importlib.import_module(private), name, None)
    except ImportError:
        return None


def span_exporter(url: str, gzip: bool = True) -> Any:
    """Our span exporter sending to ``url``; None when it does not exist yet."""
    exporter_class = optional("MixpanelSpanExporter")
    if exporter_class is None:
        return None
    if gzip:
        return exporter_class(token=TOKEN, api_host=url)
    buffered = optional("BufferedConsumer")
    assert buffered is not None
    return exporter_class(
        token=TOKEN, api_host=url, consumer=buffered(api_host=url, gzip=False)
    )
