"""MixpanelServer: a Mixpanel-compatible ingestion server on 127.0.0.1.

Start it, point a client at ``server.url``, then assert on what it accepted
(``events()``, ``people()``, ``groups()``, ``requests()``) and inject faults.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from ._faults import FaultPlan
from ._handler import MixpanelHTTPServer, ServerState
from ._ingest import Settings
from ._store import RecordedRequest, RecordStore

_logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.01
_STOP_TIMEOUT = 5.0


class MixpanelServer:
    """A local stand-in for api.mixpanel.com, for tests.

    Validates like Mixpanel (tokens, credentials, times, ``$insert_id``,
    placeholder ``distinct_id``, size limits), records what it accepts and
    every request it sees, and can fail, drop, stall, pause or go down on
    demand. All methods are thread-safe. ``token=None`` accepts any token.

    Example::

        with MixpanelServer() as server:
            client = Mixpanel(server.token, consumer=Consumer(api_host=server.url))
            client.track("user-1", "Signed up")
            (event,) = server.wait_for_events(1)
    """

    def __init__(
        self,
        token: Optional[str] = "test-token",  # noqa: S107 (a test value)
        service_account: Optional[Tuple[str, str]] = ("sa-user", "sa-secret"),
        project_id: Optional[str] = "12345",
        api_secret: Optional[str] = "test-api-secret",  # noqa: S107
        max_batch: int = 2000,
        max_body_bytes: int = 10 * 1024 * 1024,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._settings = Settings(
            token=token,
            service_account=service_account,
            project_id=project_id,
            api_secret=api_secret,
            max_batch=max_batch,
            max_body_bytes=max_body_bytes,
            now=now,
        )
        self._store = RecordStore()
        self._faults = FaultPlan(on_change=self._store.touch)
        self._state = ServerState(self._settings, self._store, self._faults)
        self._lifecycle = threading.Lock()
        self._httpd: Optional[MixpanelHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> MixpanelServer:
        """Listen on a free loopback port; a no-op when already started."""
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("a stopped MixpanelServer cannot be restarted")
            if self._httpd is None:
                httpd = MixpanelHTTPServer(("127.0.0.1", 0), self._state)
                thread = threading.Thread(
                    target=httpd.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL},
                    name=f"mixpanel-test-server-{httpd.server_address[1]}",
                    daemon=True,
                )
                thread.start()
                self._httpd, self._thread = httpd, thread
                _logger.debug("Mixpanel test server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Release held and stalled requests and shut down; idempotent."""
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            httpd, thread = self._httpd, self._thread
        self._faults.stop()
        self._state.stop()
        if httpd is not None and thread is not None:
            httpd.shutdown()
            httpd.server_close()
            thread.join(_STOP_TIMEOUT)
            _logger.debug("Mixpanel test server on port %d stopped", self.port)

    def __enter__(self) -> MixpanelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321``; endpoints are below it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("MixpanelServer is not started; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def token(self) -> Optional[str]:
        """The project token the server expects (None accepts any)."""
        return self._settings.token

    @property
    def service_account(self) -> Optional[Tuple[str, str]]:
        """The accepted service account ``(username, secret)`` on /import."""
        return self._settings.service_account

    @property
    def project_id(self) -> Optional[str]:
        """The project id required with service-account credentials."""
        return self._settings.project_id

    @property
    def api_secret(self) -> Optional[str]:
        """The API secret accepted as Basic user name on /import."""
        return self._settings.api_secret

    # -- what was received -------------------------------------------------

    def events(self, name: Optional[str] = None) -> List[Dict[str, Any]]:
        """Accepted events from /track and /import, in arrival order."""
        return self._store.events(name)

    def unique_events(self, name: Optional[str] = None) -> List[Dict[str, Any]]:
        """Accepted events deduplicated on (event, time, distinct_id, $insert_id).

        The first copy is kept; events without ``$insert_id`` are never merged.
        """
        return self._store.events(name, unique=True)

    def people(self) -> List[Dict[str, Any]]:
        """Accepted /engage updates."""
        return self._store.people()

    def groups(self) -> List[Dict[str, Any]]:
        """Accepted /groups updates."""
        return self._store.groups()

    def requests(self) -> List[RecordedRequest]:
        """Every request seen, including rejected, dropped and failed ones."""
        return self._store.requests()

    def held_requests(self) -> int:
        """How many requests are currently held by :meth:`pause`."""
        return self._faults.held

    def reset(self) -> None:
        """Forget all recorded data and clear all faults."""
        self._faults.clear()
        self._store.reset()

    # -- waiting -----------------------------------------------------------

    def wait_for_events(
        self,
        count: int,
        timeout: float = 10.0,
        name: Optional[str] = None,
        unique: bool = False,
    ) -> List[Dict[str, Any]]:
        """Wait until ``count`` events (named ``name``) were accepted; return them.

        Raises:
            AssertionError: after ``timeout`` seconds, saying how many arrived.
        """
        if not self._store.wait(
            lambda: self._store.count_events(name, unique) >= count, timeout
        ):
            seen = self._store.count_events(name, unique)
            kind = ("unique " if unique else "") + "event(s)"
            named = f" named {name!r}" if name is not None else ""
            self._timed_out(f"{count} {kind}{named}, saw {seen}", timeout)
        return self._store.events(name, unique)

    def wait_for_people(
        self, count: int, timeout: float = 10.0
    ) -> List[Dict[str, Any]]:
        """Wait until ``count`` /engage updates were accepted; return them."""
        if not self._store.wait(lambda: self._store.counts()[0] >= count, timeout):
            seen = self._store.counts()[0]
            self._timed_out(f"{count} people update(s), saw {seen}", timeout)
        return self._store.people()

    def wait_for_groups(
        self, count: int, timeout: float = 10.0
    ) -> List[Dict[str, Any]]:
        """Wait until ``count`` /groups updates were accepted; return them."""
        if not self._store.wait(lambda: self._store.counts()[1] >= count, timeout):
            seen = self._store.counts()[1]
            self._timed_out(f"{count} group update(s), saw {seen}", timeout)
        return self._store.groups()

    def wait_for(
        self, predicate: Callable[[MixpanelServer], bool], timeout: float = 10.0
    ) -> None:
        """Wait until ``predicate(server)`` is true, re-checked after each request."""
        if not self._store.wait(lambda: predicate(self), timeout):
            self._timed_out("the condition to hold", timeout)

    def _timed_out(self, expectation: str, timeout: float) -> None:
        raise AssertionError(
            f"MixpanelServer: waited {timeout:g}s for {expectation}; "
            f"received {self._store.describe()}"
        )

    # -- faults ------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: Optional[float] = None,
        endpoint: Optional[str] = None,
        body: Optional[str] = None,
    ) -> None:
        """Answer the next ``count`` requests (to ``endpoint``) with ``status``.

        Nothing of those requests is accepted. ``retry_after`` adds a
        ``Retry-After`` header; ``body`` replaces the default error body.
        """
        self._faults.fail_next(count, status, retry_after, endpoint, body)

    def fail_rate(
        self,
        rate: float,
        status: int = 503,
        seed: Optional[int] = 0,
        endpoint: Optional[str] = None,
    ) -> None:
        """Fail each request (to ``endpoint``) with probability ``rate``.

        The draws come from ``random.Random(seed)``, so a seed repeats them.
        """
        self._faults.fail_rate(rate, status, seed, endpoint)

    def drop_next(self, count: int = 1) -> None:
        """Close the next ``count`` connections without a reply, unprocessed."""
        self._faults.drop_next(count)

    def drop_rate(self, rate: float, seed: Optional[int] = 0) -> None:
        """Close each connection without a reply with probability ``rate``."""
        self._faults.drop_rate(rate, seed)

    def stall_next(self, count: int, seconds: float) -> None:
        """Accept and record the next ``count`` requests; reply ``seconds`` late."""
        self._faults.stall_next(count, seconds)

    def pause(self) -> None:
        """Hold every request, unprocessed, until :meth:`resume`."""
        self._faults.set_paused(True)

    def resume(self) -> None:
        """Release the held requests; they are processed normally."""
        self._faults.set_paused(False)

    def set_down(self, down: bool) -> None:
        """Simulate an outage: close every connection at once, without reply."""
        self._faults.set_down(down)

    def clear_faults(self) -> None:
        """Remove all faults; held and stalled requests are released."""
        self._faults.clear()
