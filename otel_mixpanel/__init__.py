"""otel-mixpanel: Mixpanel analytics from OpenTelemetry, and a drop-in client."""

from ._background import BackgroundConsumer
from ._buffered import BufferedConsumer
from ._client import Mixpanel
from ._consumer import Consumer
from ._credentials import ServiceAccountCredentials
from ._errors import MixpanelException
from ._handler import MixpanelHandler
from ._log_exporter import MixpanelLogExporter
from ._marking import add_span_event, mark_span, mixpanel_attributes
from ._redaction import DEFAULT_REDACT
from ._serialization import DatetimeSerializer, json_dumps
from ._span_exporter import MixpanelSpanExporter
from ._version import __version__

__all__ = [
    "DEFAULT_REDACT",
    "BackgroundConsumer",
    "BufferedConsumer",
    "Consumer",
    "DatetimeSerializer",
    "Mixpanel",
    "MixpanelException",
    "MixpanelHandler",
    "MixpanelLogExporter",
    "MixpanelSpanExporter",
    "ServiceAccountCredentials",
    "__version__",
    "add_span_event",
    "json_dumps",
    "mark_span",
    "mixpanel_attributes",
]
