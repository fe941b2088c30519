"""Application-thread cost of one call: logging handlers and ``track`` consumers.

Each call is timed on its own with ``time.perf_counter_ns``; the runner keeps
the median and the 99th percentile, in microseconds.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .servers import ServerProcess
from .workloads import EVENT_NAME, TOKEN, optional, properties, user_id

Samples = List[int]
#: Per-call times, and how many events the server accepted (None: not counted).
Timed = Tuple[Samples, Optional[int]]
WARMUP = 200


def _per_call(call: Callable[[int], None], count: int) -> Samples:
    """Nanoseconds each of ``count`` calls took, after a short warm-up."""
    for index in range(WARMUP):
        call(index)
    clock = time.perf_counter_ns
    samples = [0] * count
    for index in range(count):
        start = clock()
        call(index)
        samples[index] = clock() - start
    return samples


def _log_extras(count: int) -> List[Dict[str, Any]]:
    return [
        {"distinct_id": user_id(index), "plan": "pro", "cart.total": 42.5 + index}
        for index in range(count + WARMUP)
    ]


def _time_logger(handler: Optional[logging.Handler], count: int) -> Samples:
    logger = logging.getLogger(f"bench.app.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if handler is not None:
        logger.addHandler(handler)
    extras = _log_extras(count)

    def call(index: int) -> None:
        logger.info("User %s checked out", index, extra=extras[index])

    try:
        return _per_call(call, count)
    finally:
        if handler is not None:
            logger.removeHandler(handler)


def log_without_handler(count: int) -> Timed:
    """``logger.info`` on a logger with no handler at all."""
    return _time_logger(None, count), None


def log_mixpanel_handler(count: int, mixpanel: ServerProcess) -> Optional[Timed]:
    """``logger.info`` with MixpanelHandler; None when it does not exist yet."""
    handler_class = optional("MixpanelHandler")
    if handler_class is None:
        return None
    handler = _build(handler_class, mixpanel.url, token=TOKEN)
    mixpanel.take()
    try:
        samples = _time_logger(handler, count)
    finally:
        handler.close()
    return samples, mixpanel.take().get("accepted")


def log_otel_handler(count: int, otlp: ServerProcess) -> Timed:
    """``logger.info`` with the SDK's LoggingHandler, batch processor, OTLP."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=otlp.url + "/v1/logs")
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    try:
        return _time_logger(handler, count), None
    finally:
        provider.shutdown()
        otlp.take()


def track_background(count: int, mixpanel: ServerProcess) -> Optional[Timed]:
    """One ``track`` through BackgroundConsumer; None when it does not exist yet."""
    import otel_mixpanel

    consumer_class = optional("BackgroundConsumer")
    if consumer_class is None:
        return None
    consumer = _build(consumer_class, mixpanel.url)
    client = otel_mixpanel.Mixpanel(TOKEN, consumer=consumer)
    mixpanel.take()
    try:
        samples = _time_tracks(client, count)
    finally:
        consumer.close()
    return samples, mixpanel.take().get("accepted")


def track_official_buffered(count: int, mixpanel: ServerProcess) -> Timed:
    """One ``track`` through mixpanel 5.4.1's BufferedConsumer(max_size=50)."""
    import mixpanel as official

    consumer = official.BufferedConsumer(
        max_size=50, events_url=mixpanel.url + "/track"
    )
    client = official.Mixpanel(TOKEN, consumer=consumer)
    mixpanel.take()
    try:
        samples = _time_tracks(client, count)
    finally:
        consumer.flush()
    return samples, mixpanel.take().get("accepted")


def _time_tracks(client: Any, count: int) -> Samples:
    properties_by_call = [properties(index) for index in range(count + WARMUP)]

    def call(index: int) -> None:
        client.track(user_id(index), EVENT_NAME, properties_by_call[index])

    return _per_call(call, count)


def _build(component: Any, url: str, **keywords: Any) -> Any:
    """Build with ``api_host=`` keywords, else from MIXPANEL_* variables."""
    try:
        return component(api_host=url, **keywords)
    except TypeError:
        os.environ["MIXPANEL_TOKEN"] = TOKEN
        os.environ["MIXPANEL_API_HOST"] = url
        return component()


def summary(samples: Samples) -> Dict[str, float]:
    """Median and 99th percentile of ``samples``, in microseconds."""
    ordered = sorted(samples)
    return {
        "median": ordered[len(ordered) // 2] / 1000.0,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000.0,
    }
