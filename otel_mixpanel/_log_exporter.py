"""The OpenTelemetry log record exporter: named log records become Mixpanel events.

Supported with opentelemetry-sdk 1.35 to 1.45 (the log API names changed in
between; ``_sdk_logs`` hides that). ``export`` maps, hands over and flushes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterable, Optional, Sequence, Union

from ._buffered import BufferedConsumer
from ._exporting import DeliveryBudget, ExportLock, build_parts, deliver, release
from ._log_record_mapping import HandlerPayload, LogRecordMapper
from ._mapping import EventMapper
from ._sdk_logs import LogExportResult, LogRecordExporterBase
from ._settings import EXPORT_ALL_LOGS_VARIABLE, env_flag

_logger = logging.getLogger(__name__)


class MixpanelLogExporter(LogRecordExporterBase):
    """Sends log records that name an event (or all records) to Mixpanel.

    A record is an event when ``mixpanel.event``, its ``event_name`` or its
    ``otel.event.name`` attribute names it (first found); with
    ``export_all_logs`` (``MIXPANEL_EXPORT_ALL_LOGS``) every other record is
    one too, named by its body. Identity, properties, redaction, profile and
    group attributes and ``$insert_id`` follow the span exporter's rules; the
    properties add ``level``, ``logger.name`` (the instrumentation scope) and
    ``message`` (a string body; another body is sent as ``body``), and
    ``trace_id``/``span_id`` when the record was emitted inside a span. The
    time is the record's timestamp, else its observed timestamp. Records of
    the ``otel_mixpanel``, ``urllib3``, ``requests`` and ``opentelemetry``
    loggers are never sent.

    Keywords fall back to ``MIXPANEL_*`` environment variables, so
    ``OTEL_LOGS_EXPORTER=mixpanel`` works without code; a missing token
    raises ``ValueError`` naming ``MIXPANEL_TOKEN``. Pass ``consumer`` to
    deliver through your own :class:`BufferedConsumer` (flushed, never closed
    by the exporter). ``losses`` counts what was lost. ``export`` never raises.
    """

    def __init__(
        self,
        *,
        token: Optional[str] = None,
        api_host: Optional[str] = None,
        service_account_username: Optional[str] = None,
        service_account_secret: Optional[str] = None,
        project_id: Optional[str] = None,
        api_secret: Optional[str] = None,
        export_all_logs: Optional[bool] = None,
        redact: Union[str, Iterable[str], None] = None,
        consumer: Optional[BufferedConsumer] = None,
        **delivery: Any,
    ) -> None:
        parts = build_parts(
            consumer,
            redact,
            {
                "token": token,
                "api_host": api_host,
                "service_account_username": service_account_username,
                "service_account_secret": service_account_secret,
                "project_id": project_id,
                "api_secret": api_secret,
                **delivery,
            },
        )
        if export_all_logs is None:
            export_all_logs = env_flag(EXPORT_ALL_LOGS_VARIABLE, False)
        self._owns_consumer = parts.owns_consumer
        self._consumer = parts.consumer
        self.losses = self._consumer.losses
        self._export_timeout = parts.settings.retry_deadline
        self._records = LogRecordMapper(parts.mapper, export_all=export_all_logs)
        self._export_lock = ExportLock(self._consumer, self._owns_consumer)
        self._is_shutdown = False
        # Set by the handler's close: the thread doing the final delivery and
        # its deadline; the worker's exports are then held for that thread.
        self._closer: Optional[int] = None
        self._deadline: Optional[float] = None
        self._held: list[Any] = []
        self._held_lock = threading.Lock()
        self._budget = DeliveryBudget()

    @property
    def _mapper(self) -> EventMapper:
        """The shared mapping (the handler cleans ``extra`` values with it)."""
        return self._records.mapper

    def export(self, batch: Sequence[Any]) -> LogExportResult:
        """Map and deliver ``batch``; SUCCESS once Mixpanel took it all."""
        if self._is_shutdown:
            refused = sum(map(_not_numbered, batch))
            self.losses.add("log record exported after shutdown", refused)
            return LogExportResult.FAILURE
        self._check_process()
        if self._hold(batch):
            return LogExportResult.SUCCESS
        with self._export_lock.exporting():
            if self._hold(batch):
                return LogExportResult.SUCCESS
            try:
                delivered = self._export([*self._take_held(), *batch], None)
            except Exception as error:  # export must never raise
                _logger.warning("Mixpanel log export failed: %s", type(error).__name__)
                _logger.debug("Mixpanel log export failure.", exc_info=True)
                return LogExportResult.FAILURE
        return LogExportResult.SUCCESS if delivered else LogExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what is buffered within the timeout; True when nothing is left."""
        if self._is_shutdown:
            return False
        self._check_process()
        deadline = self._bounded(time.monotonic() + max(0.0, timeout_millis / 1000))
        if not self._export_lock.acquire(_left(deadline)):
            return False
        try:
            delivered = self._export(self._take_held(), deadline)
        finally:
            self._export_lock.release()
        return delivered and self._consumer.pending() == 0

    def shutdown(self, timeout_millis: float = 30000) -> None:
        """Deliver what is left within the timeout, then cut retries short and close.

        What could not be delivered is counted in ``losses``.
        """
        if self._is_shutdown:
            return
        self._is_shutdown = True
        self._check_process()
        deadline = self._bounded(time.monotonic() + max(0.0, timeout_millis / 1000))
        # Without the lock, the export under way releases the consumer.
        acquired = self._export_lock.acquire_for_shutdown(_left(deadline))
        try:
            if acquired:
                self._export(self._take_held(), deadline)
        finally:
            held = self._take_held()
            self.losses.add("undelivered at close", sum(map(_not_numbered, held)))
            if acquired:
                release(self._consumer, self._owns_consumer, idle=True)
                self._export_lock.release()

    def _begin_close(self, timeout: float) -> bool:
        """Prepare the final delivery on this thread within ``timeout`` seconds.

        From now on, exports on other threads (the SDK's worker) only hold
        their records for this thread, so nothing this thread waits for can
        block on the network or on logging's locks. Returns False when an
        export already running did not end in time (its retries are cut short).
        """
        self._check_process()  # a child must not wait on its parent's lock
        self._deadline = time.monotonic() + max(0.0, timeout)
        self._closer = threading.get_ident()
        if self._export_lock.acquire(_left(self._deadline)):
            self._export_lock.release()
            return True
        if self._owns_consumer:
            self._consumer.cancel()
        return False

    def _check_process(self) -> None:
        """In a forked child: fresh locks, none of the parent's held records."""
        if self._export_lock.check_process():
            self._held_lock = threading.Lock()
            self._held = []
            self._closer = None
            self._deadline = None

    def _hold(self, batch: Sequence[Any]) -> bool:
        """Keep ``batch`` for the closing thread when this is another thread."""
        closer = self._closer
        if closer is None or closer == threading.get_ident():
            return False
        with self._held_lock:
            self._held.extend(batch)
        return True

    def _take_held(self) -> list[Any]:
        with self._held_lock:
            held, self._held = self._held, []
        return held

    def _bounded(self, deadline: float) -> float:
        """``deadline``, or the closing deadline when that comes first."""
        closing = self._deadline
        return deadline if closing is None else min(deadline, closing)

    def _export(self, items: Sequence[Any], deadline: Optional[float]) -> bool:
        """Map ``items``, hand them to the consumer, flush by the deadline."""
        records = self._records
        batch = records.mapper.new_batch()
        for item in items:
            try:
                records.map_item(batch, item)
            except Exception:  # one broken record must not stop the batch
                self.losses.add("log record that could not be mapped")
                _logger.debug("Could not map a log record.", exc_info=True)
        budget = None  # a flush or a shutdown has its own deadline
        if deadline is None:
            deadline = self._bounded(time.monotonic() + self._export_timeout)
            budget = self._budget if self._closer is None else None
        return deliver(self._consumer, batch, _left(deadline), budget)


def _not_numbered(item: Any) -> bool:
    """Whether a held item is not a handler's numbered record (which its
    handler counts when it closes)."""
    body = getattr(getattr(item, "log_record", item), "body", None)
    return not (type(body) is HandlerPayload and body.tally is not None)


def _left(deadline: float) -> float:
    """Seconds until a monotonic deadline, never negative."""
    return max(0.0, deadline - time.monotonic())
