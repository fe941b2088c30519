"""The ``logging`` handler: every record it takes becomes a Mixpanel event.

``emit`` only enqueues into the SDK's ``BatchLogRecordProcessor`` (the one
scheduler); a :class:`MixpanelLogExporter` delivers. SDK 1.35 to 1.45.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional, TypeVar, Union, cast

from opentelemetry import context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY

from ._handler_records import RecordConverter
from ._log_exporter import MixpanelLogExporter
from ._log_record_mapping import LoggerFilter
from ._loss import LossCounter
from ._sdk_logs import BatchLogRecordProcessor, emit

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Seconds ``close()`` may spend delivering what is queued.
DEFAULT_CLOSE_TIMEOUT = 5.0
# The plain-string key older instrumentations set (opentelemetry-instrumentation).
_PLAIN_SUPPRESS_KEY = "suppress_instrumentation"


class MixpanelHandler(logging.Handler):
    """A ``logging`` handler sending each record it takes to Mixpanel as an event.

    The event name is the ``mixpanel.event`` extra, else the unformatted
    message (``record.msg``), so ``log.info("User %s signed up", name)`` is
    one event name; the formatted message is the ``message`` property.
    ``extra`` keys become properties (values Mixpanel cannot store are
    dropped and counted in ``losses``); a ``distinct_id`` extra sets the
    identity, and ``mixpanel.*`` extras work as span attributes do. ``level``,
    ``logger.name``, ``exception.type`` and ``exception.message`` are
    properties; records inside a span carry ``trace_id`` and ``span_id``.

    Every keyword is optional: settings fall back to ``MIXPANEL_*`` variables,
    so ``logging.config.dictConfig`` can build it from its class name. Extra
    keywords go to :class:`MixpanelLogExporter`, or pass ``exporter``.
    ``schedule_delay_millis``, ``max_export_batch_size`` and ``max_queue_size``
    tune the SDK's batch processor (default: ``OTEL_BLRP_*``, then the SDK's).

    ``emit`` never blocks on the network and never raises (failures go to
    ``handleError``). Records of this package's, the HTTP client's and the
    SDK's loggers, and those emitted while instrumentation is suppressed, are
    ignored. ``flush()`` does nothing (delivery runs in the background);
    ``close()`` delivers what is queued within ``close_timeout`` seconds.
    """

    def __init__(
        self,
        level: Union[int, str] = logging.NOTSET,
        *,
        token: Optional[str] = None,
        api_host: Optional[str] = None,
        exporter: Optional[MixpanelLogExporter] = None,
        schedule_delay_millis: Optional[float] = None,
        max_export_batch_size: Optional[int] = None,
        max_queue_size: Optional[int] = None,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        **exporter_options: Any,
    ) -> None:
        if exporter is None:
            exporter = MixpanelLogExporter(
                token=token, api_host=api_host, **exporter_options
            )
        elif token is not None or api_host is not None or exporter_options:
            raise TypeError("Pass either exporter or its settings, not both.")
        options: dict[str, Any] = {
            "schedule_delay_millis": _number(schedule_delay_millis, float),
            "max_export_batch_size": _number(max_export_batch_size, int),
            "max_queue_size": _number(max_queue_size, int),
        }
        processor = BatchLogRecordProcessor(
            exporter,
            **{key: value for key, value in options.items() if value is not None},
        )
        super().__init__(level)
        self._exporter = exporter
        self._processor = processor
        self._converter = RecordConverter(exporter._mapper)
        self._loggers = LoggerFilter()
        self._close_timeout = float(close_timeout)
        self._is_closed = False
        self._state_lock = threading.Lock()

    @property
    def losses(self) -> LossCounter:
        """The exporter's :class:`LossCounter`: what could not be sent, by reason."""
        return self._exporter.losses

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the records that would feed back into delivery, then apply filters.

        Runs before the handler's lock is taken, so the exporter's own logging
        never waits on it.
        """
        name = record.name
        if isinstance(name, str) and self._loggers.ignores(name):
            return False
        if context.get_value(_SUPPRESS_INSTRUMENTATION_KEY) or context.get_value(
            _PLAIN_SUPPRESS_KEY
        ):
            return False
        return super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record for delivery; never blocks, never raises."""
        try:
            if self._is_closed:
                self._exporter.losses.add("log record after close")
                return
            message = self.format(record) if self.formatter else record.getMessage()
            emit(self._processor, self._converter.convert(record, message))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Do nothing: delivery runs in the background, and ``close`` finishes it.

        ``dictConfig`` calls ``flush`` holding logging's lock, so it must not
        wait for the delivery thread.
        """

    def close(self) -> None:
        """Deliver what is queued within ``close_timeout``, then stop; idempotent.

        The final delivery runs on the calling thread, so it never waits for
        the delivery thread to take a lock the caller holds (``dictConfig``
        closes handlers under logging's lock). What could not be delivered
        is counted in ``losses``.
        """
        with self._state_lock:
            closing = not self._is_closed
            self._is_closed = True
        if closing:
            token = context.attach(
                context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)
            )
            try:
                self._shut_down()
            except Exception:  # closing must not raise either
                _logger.debug("Closing the Mixpanel handler failed.", exc_info=True)
            finally:
                context.detach(token)
        super().close()

    def _shut_down(self) -> None:
        try:
            if self._exporter._begin_close(self._close_timeout):
                self._processor.force_flush()
                cast(Any, self._processor).shutdown()  # untyped in the SDK
            else:
                _logger.debug("An export outlived the close timeout; abandoned.")
                self._exporter.shutdown(timeout_millis=0)
        finally:
            # Records queued but never handed to the exporter are gone now.
            unseen = self._converter.tally.settle()
            self._exporter.losses.add("undelivered at close", unseen)

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} ({level})>"


def _number(value: Any, kind: Callable[[Any], _T]) -> Optional[_T]:
    """``value`` as a number (``dictConfig`` may give strings), or None."""
    if value is None or value == "":
        return None
    return kind(value)
