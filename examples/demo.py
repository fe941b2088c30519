"""``hatch run demo``: run an instrumented shop and show what Mixpanel received.

Without ``MIXPANEL_TOKEN`` the events go to a local Mixpanel-compatible server
started here, and the demo prints them. With ``MIXPANEL_TOKEN`` (and optionally
``MIXPANEL_API_HOST``) set, they go to that Mixpanel project instead.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from typing import Any, Optional, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from examples.demo_shop import Shop, logger, serve, visit
from otel_mixpanel import MixpanelHandler, MixpanelSpanExporter
from otel_mixpanel.testing import MixpanelServer

#: Properties every event has; the table leaves them out to stay readable.
STANDARD_PROPERTIES = frozenset(
    {"token", "time", "distinct_id", "$insert_id", "mp_lib", "$lib_version"}
    | {"trace_id", "span_id", "service.name", "service.version"}
    | {"deployment.environment.name", "duration_ms", "logger.name", "level"}
    | {"http.request.method", "http.route", "url.path", "http.response.status_code"}
)


def main() -> int:
    """Run the shop, shut down cleanly, report; 1 when anything was lost."""
    token = os.environ.get("MIXPANEL_TOKEN")
    server = None if token else MixpanelServer().start()
    settings: dict[str, Any] = {}
    if server is not None:
        settings = {"token": server.token, "api_host": server.url}

    resource = Resource.create({"service.name": "demo-shop", "service.version": "1.0"})
    provider = TracerProvider(resource=resource)
    exporter = MixpanelSpanExporter(**settings)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    handler = MixpanelHandler(**settings)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    httpd, thread, url = serve(Shop(provider.get_tracer("examples.demo")))
    requests = visit(url)
    httpd.shutdown()
    thread.join()
    httpd.server_close()

    provider.shutdown()  # delivers the spans still queued
    logger.removeHandler(handler)
    handler.close()  # delivers the log records still queued
    losses = {**exporter.losses.snapshot(), **handler.losses.snapshot()}

    if server is None:
        host = os.environ.get("MIXPANEL_API_HOST") or "api.mixpanel.com"
        print(f"The demo shop handled {requests} requests and sent its events to the")
        print(f"Mixpanel project of MIXPANEL_TOKEN at {host}.")
        print("Look for 'Viewed product' and 'Completed purchase' in its Events view.")
    else:
        print(f"The demo shop handled {requests} requests; the local Mixpanel server")
        print(f"at {server.url} received:\n")
        print_report(server)
        server.stop()
    if losses:
        print(f"\nLost on the way: {losses}", file=sys.stderr)
        return 1
    return 0


def print_report(server: MixpanelServer) -> None:
    """Print the events, then the profile and group updates, as tables."""
    events = sorted(server.events(), key=lambda e: e["properties"]["time"])
    rows = [
        (
            _clock(event["properties"]["time"]),
            event["event"],
            str(event["properties"].get("distinct_id", "(none)")),
            event["properties"].get("trace_id", "-"),
            _properties(event["properties"]),
        )
        for event in events
    ]
    header = ("time", "event", "distinct_id", "trace_id", "key properties")
    print(f"Events ({len(rows)})")
    _table(header, rows)
    print(
        "  (every event also has token, time, $insert_id, span_id, service.name, ...)"
    )

    updates = [
        (update["$distinct_id"], operation, _values(value))
        for update in server.people()
        for operation, value in update.items()
        if not operation.startswith(("$token", "$time", "$distinct_id"))
    ]
    print(f"\nProfile updates ({len(updates)})")
    _table(("distinct_id", "operation", "values"), updates)

    group_updates = [
        (f"{update['$group_key']}={update['$group_id']}", operation, _values(value))
        for update in server.groups()
        for operation, value in update.items()
        if operation not in ("$token", "$time", "$group_key", "$group_id")
    ]
    if group_updates:
        print(f"\nGroup profile updates ({len(group_updates)})")
        _table(("group", "operation", "values"), group_updates)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        print("  " + "  ".join(cells).rstrip())


def _clock(time_ms: Any) -> str:
    return datetime.fromtimestamp(float(time_ms) / 1000).strftime("%H:%M:%S.%f")[:-3]


def _properties(properties: dict[str, Any], limit: int = 60) -> str:
    text = ", ".join(
        f"{key}={value}"
        for key, value in properties.items()
        if key not in STANDARD_PROPERTIES
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _values(value: Any, limit: Optional[int] = 60) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{key}={item}" for key, item in value.items())
    else:
        text = str(value)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
