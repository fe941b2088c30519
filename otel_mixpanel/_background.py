"""The consumer whose ``send`` only enqueues: delivery never blocks the caller.

Messages ride the SDK's ``BatchLogRecordProcessor`` (the one scheduler, with
its worker thread) to a private exporter that hands them to a buffered consumer.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Any, Mapping, Optional

from opentelemetry.context import (
    _SUPPRESS_INSTRUMENTATION_KEY,
    attach,
    detach,
    set_value,
)

from ._background_export import Deadlines, QueuedMessage, QueueExporter
from ._consumer import ApiKey, Consumer, split_messages
from ._credentials import ServiceAccountCredentials
from ._endpoints import check_endpoint
from ._errors import MixpanelException
from ._sdk_logs import (
    BatchLogRecordProcessor,
    emit,
    make_log_record,
    shutdown_processor,
)
from ._settings import load_delivery

_logger = logging.getLogger(__name__)

#: Messages waiting for the worker before the oldest are dropped.
DEFAULT_MAX_QUEUE_SIZE = 10_000
#: Milliseconds between two deliveries when the queue is not full.
DEFAULT_SCHEDULE_DELAY_MILLIS = 1000
#: Seconds the interpreter's exit may spend delivering what is queued.
DEFAULT_EXIT_TIMEOUT = 5.0


class BackgroundConsumer:
    """A consumer for :class:`Mixpanel` whose ``send`` only enqueues and returns.

    The SDK's ``BatchLogRecordProcessor`` worker delivers the queue every
    ``schedule_delay_millis`` (sooner when a batch is full) through a
    :class:`BufferedConsumer`. At most ``max_queue_size`` messages wait; beyond
    that the oldest are dropped, counted in ``losses`` and warned about at a
    bounded rate. What is queued at interpreter exit is delivered within
    ``exit_timeout`` seconds. A child process after ``fork`` sends only its
    own messages. Every keyword left out falls back to its ``MIXPANEL_*``
    environment variable (see ``otel_mixpanel._settings``), then the default;
    no token is needed: the client puts it in each message.

    ``Mixpanel.alias`` still goes out at once through :meth:`sync_consumer`.
    For calls whose failure must be seen or whose effect must be applied
    before going on (``import_data``, ``merge``, ``people_delete``), use a
    second client: ``Mixpanel(token, consumer=background.sync_consumer())``.
    """

    def __init__(
        self,
        *,
        api_host: Optional[str] = None,
        events_url: Optional[str] = None,
        people_url: Optional[str] = None,
        groups_url: Optional[str] = None,
        import_url: Optional[str] = None,
        credentials: Optional[ServiceAccountCredentials] = None,
        api_secret: Optional[str] = None,
        request_timeout: Optional[float] = None,
        retry_limit: int = 4,
        retry_backoff_factor: float = 0.25,
        retry_deadline: Optional[float] = None,
        max_batch_size: Optional[int] = None,
        max_buffer: Optional[int] = None,
        gzip: Optional[bool] = None,
        verify_cert: Optional[bool] = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        schedule_delay_millis: float = DEFAULT_SCHEDULE_DELAY_MILLIS,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        if max_queue_size < 1:
            raise ValueError("max_queue_size must be at least 1")
        settings = load_delivery(
            environ,
            require_token=False,
            api_host=api_host,
            credentials=credentials,
            api_secret=api_secret,
            request_timeout=request_timeout,
            retry_deadline=retry_deadline,
            max_batch_size=max_batch_size,
            max_buffer=max_buffer,
            gzip=gzip,
            verify_cert=verify_cert,
        )
        self._buffered = settings.buffered_consumer(
            events_url=events_url,
            people_url=people_url,
            groups_url=groups_url,
            import_url=import_url,
            retry_limit=retry_limit,
            retry_backoff_factor=retry_backoff_factor,
        )
        self.losses = self._buffered.losses
        self._deadlines = Deadlines()
        self._exporter = QueueExporter(
            self._buffered, self._deadlines, self.losses, settings.retry_deadline
        )
        self._processor = BatchLogRecordProcessor(
            self._exporter,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=min(self._buffered.max_size, max_queue_size),
            max_queue_size=max_queue_size,
        )
        self._exit_timeout = exit_timeout
        self._lock = threading.Lock()
        self._sequence = 0
        self._closed = False
        self._pid = os.getpid()
        if hasattr(os, "register_at_fork"):
            reset = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: _call(reset))
        atexit.register(self._close_at_exit)

    def send(
        self,
        endpoint: str,
        json_message: str,
        api_key: ApiKey = None,
        api_secret: Optional[str] = None,
    ) -> None:
        """Queue one message (or a JSON array of them) for ``endpoint``; never blocks.

        Raises :class:`MixpanelException` for an unknown endpoint or a message
        that is not a string. A message sent after :meth:`close` is counted
        as lost.
        """
        check_endpoint(endpoint)
        if not isinstance(json_message, str):
            raise MixpanelException("json_message must be a JSON string.")
        if isinstance(api_key, tuple):
            api_key, api_secret = api_key
        queued = [
            QueuedMessage(endpoint, text, api_key, api_secret)
            for text in split_messages(json_message)
        ]
        records = [make_log_record(message, None) for message in queued]
        self._check_process()
        with self._lock:
            closed = self._closed
            for message, record in zip(queued, records):
                if closed:
                    break
                self._sequence += 1
                message.sequence = self._sequence
                emit(self._processor, record)
        if closed:
            self.losses.add("sent after close", len(records))

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is queued, waiting at most ``timeout`` seconds if given.

        Returns True when nothing queued before the call is still waiting
        (delivered, or lost and counted in ``losses``), False when the time
        ran out or delivery failed; what failed stays queued for a later try.
        """
        self._check_process()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._sequence
        return self._deliver_until(deadline, target)

    def close(self, timeout: Optional[float] = None) -> None:
        """Deliver what is queued (within ``timeout`` if given), then stop.

        What could not be delivered in time is counted in ``losses``. Later
        calls to :meth:`send` are counted as lost; closing twice is harmless.
        """
        self._check_process()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            target = self._sequence
        atexit.unregister(self._close_at_exit)
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = self._deliver_until(deadline, target)
        idle = self._exporter.close(target)
        if not delivered:
            self._buffered.cancel()
        if idle:
            shutdown_processor(self._processor)
            self._buffered.close(0.0)
        # else the export under way closes the buffered consumer when it ends,
        # counting what it could not deliver.
        _logger.debug("Background consumer closed (delivered: %s).", delivered)

    def pending(self) -> int:
        """Messages queued or buffered and not yet delivered."""
        self._check_process()
        with self._lock:
            sequence = self._sequence
        return self._exporter.waiting(sequence) + self._buffered.pending()

    def sync_consumer(self) -> Consumer:
        """Return the consumer that sends at once, with the same settings.

        ``Mixpanel.alias`` uses it; pass it to another client for the calls
        whose outcome must be known before going on.
        """
        return self._buffered.sync_consumer()

    def __enter__(self) -> BackgroundConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        endpoint = self.sync_consumer().endpoints["events"]
        return f"<BackgroundConsumer events={endpoint!r} pending={self.pending()}>"

    def _deliver_until(self, deadline: Optional[float], target: int) -> bool:
        """Deliver on this thread, after any export in progress, by ``deadline``.

        Queued messages go through the processor's ``force_flush`` (whose
        export also retries what earlier exports left buffered); with none
        queued, the buffered leftovers are retried directly.
        """
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            with self._deadlines.active(deadline):
                if not self._exporter.wait_idle(deadline):
                    return False
                if self._exporter.waiting(target):
                    self._processor.force_flush()
                else:
                    self._buffered.flush(_remaining(deadline))
        except MixpanelException as error:
            _logger.debug("Background delivery failed for now: %s", error)
            return False
        finally:
            detach(token)
        return self._exporter.waiting(target) == 0 and self._buffered.pending() == 0

    def _close_at_exit(self) -> None:
        try:
            self.close(self._exit_timeout)
        except Exception:  # nothing may escape at exit
            _logger.debug("Closing at exit failed.", exc_info=True)

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            self._after_fork()

    def _after_fork(self) -> None:
        """In a child: fresh locks, and none of the parent's queue is ours."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.losses.reset_after_fork()
        self._deadlines.reset_after_fork()
        self._exporter.reset_after_fork(self._sequence)
        self._buffered.flush(0.0)  # empty: makes it drop the parent's buffers now


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _call(method: weakref.WeakMethod[Any]) -> None:
    bound = method()
    if bound is not None:
        bound()
