"""A prefork server: gunicorn loads this module once, then forks the workers.

The tracer provider, the span exporter and the logging handler are created in
the master (``--preload``) and need nothing more: they start afresh in each
worker, and each worker delivers what it queued when it exits. Run::

    MIXPANEL_TOKEN=... gunicorn --preload --workers 2 examples.prefork_app:app

Stop gunicorn with SIGTERM or SIGINT (a graceful stop), not SIGKILL.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterable

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mixpanel import MixpanelHandler, MixpanelSpanExporter, mark_span

provider = TracerProvider(resource=Resource.create({"service.name": "prefork-shop"}))
provider.add_span_processor(BatchSpanProcessor(MixpanelSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("examples.prefork_app")

logger = logging.getLogger("examples.prefork_app")
logger.addHandler(MixpanelHandler())  # also created before the fork
logger.setLevel(logging.INFO)

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def app(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI application: each request is a "Viewed page" event and a log event."""
    path = str(environ.get("PATH_INFO", "/"))
    user = str(environ.get("HTTP_X_USER_ID", "")) or None
    with tracer.start_as_current_span("GET " + path):
        mark_span(
            "Viewed page",
            user,
            properties={"url.path": path, "worker.pid": os.getpid()},
        )
        logger.info("Served %s", path, extra={"distinct_id": user})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
