"""otel-mixpanel: Mixpanel analytics from OpenTelemetry, and a drop-in client."""

from ._buffered import BufferedConsumer
from ._client import Mixpanel
from ._consumer import Consumer
from ._credentials import ServiceAccountCredentials
from ._errors import MixpanelException
from ._serialization import DatetimeSerializer, json_dumps
from ._version import __version__

__all__ = [
    "BufferedConsumer",
    "Consumer",
    "DatetimeSerializer",
    "Mixpanel",
    "MixpanelException",
    "ServiceAccountCredentials",
    "__version__",
    "json_dumps",
]
