"""The HTTP side of the local Mixpanel server: sockets, faults, replies.

Each connection runs in its own daemon thread (HTTP/1.1 keep-alive). The
handler applies injected faults, hands bodies to :func:`ingest` and records
every request; it never logs a payload.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Set, Tuple
from urllib.parse import parse_qsl

from ._faults import FaultPlan, failure_reply
from ._ingest import Outcome, Settings, ingest
from ._store import RecordedRequest, RecordStore
from ._wire import (
    BodyError,
    Reply,
    error_reply,
    read_body,
    simple_reply,
    with_header,
)

_logger = logging.getLogger(__name__)

ENDPOINTS = {
    "/track": "events",
    "/engage": "people",
    "/groups": "groups",
    "/import": "imports",
}


@dataclass(frozen=True)
class _Incoming:
    """The parts of a request known before its body is read."""

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    endpoint: Optional[str]


class ServerState:
    """What the handler threads share: settings, store, faults, connections."""

    def __init__(
        self, settings: Settings, store: RecordStore, faults: FaultPlan
    ) -> None:
        self.settings = settings
        self.store = store
        self.faults = faults
        self._lock = threading.Lock()
        self._idle: Set[socket.socket] = set()  # keep-alive, between requests
        self._stopping = False

    def connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            if not self._stopping:
                self._idle.add(connection)
                return
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)

    def connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.discard(connection)

    def request_started(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.discard(connection)

    def request_finished(self, connection: socket.socket) -> bool:
        """Mark a connection idle; return whether it should be closed now."""
        with self._lock:
            if not self._stopping:
                self._idle.add(connection)
            return self._stopping

    def stop(self) -> None:
        """Refuse new work and close idle keep-alive connections."""
        with self._lock:
            self._stopping = True
            idle = list(self._idle)
            self._idle.clear()
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class MixpanelHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server carrying the shared :class:`ServerState`."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: Tuple[str, int], state: ServerState) -> None:
        self.state = state
        super().__init__(address, MixpanelRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _logger.debug("Mixpanel test server: connection error", exc_info=True)


class MixpanelRequestHandler(BaseHTTPRequestHandler):
    """Serves ``/track``, ``/engage``, ``/groups`` and ``/import``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    server: MixpanelHTTPServer
    timeout = 30.0

    def setup(self) -> None:
        super().setup()
        self.server.state.connection_opened(self.connection)

    def finish(self) -> None:
        self.server.state.connection_closed(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's request lines (they would go to stderr)."""

    def _handle(self) -> None:
        state = self.server.state
        state.request_started(self.connection)
        try:
            self._serve(state)
        finally:
            if state.request_finished(self.connection):
                self.close_connection = True

    def _serve(self, state: ServerState) -> None:
        path, _, query_string = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        incoming = _Incoming(
            method=self.command,
            path=path,
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            headers=headers,
            endpoint=ENDPOINTS.get(path.rstrip("/")),
        )
        try:
            body = read_body(self.rfile, headers)
        except BodyError as error:
            self._record(incoming, b"", error.status)
            self.close_connection = True
            shape = incoming.endpoint or "events"
            self._send(error_reply(shape, error.status, error.message))
            return

        if state.faults.down:
            self._record(incoming, body, 0, "down")
            self._drop()
            return
        endpoint = incoming.endpoint
        if endpoint is None or self.command != "POST":
            self._reject_route(incoming, body)
            return

        held = state.faults.hold_if_paused()
        fault = state.faults.take_fault(endpoint)
        if fault is not None and fault.kind == "drop":
            self._record(incoming, body, 0, "drop")
            self._drop()
            return
        if fault is not None:
            reply = failure_reply(endpoint, fault, incoming.query)
            self._record(incoming, body, reply.status, "fail")
            self._send(reply)
            return

        outcome = ingest(state.settings, endpoint, incoming.query, headers, body)
        state.store.accept(endpoint, outcome.accepted)
        stall = state.faults.take_stall()
        label = "stall" if stall is not None else ("paused" if held else None)
        self._record(incoming, body, outcome.reply.status, label, outcome)
        _logger.debug(
            "Mixpanel test server: %s %s -> %d (%d record(s), %d accepted)",
            self.command,
            path,
            outcome.reply.status,
            outcome.records,
            len(outcome.accepted),
        )
        if stall is not None:
            state.faults.stall(stall)
        self._send(outcome.reply)

    def _reject_route(self, incoming: _Incoming, body: bytes) -> None:
        """Answer 404 for an unknown path, 405 for a method other than POST."""
        if incoming.endpoint is None:
            reply = simple_reply(False, "not found", True, 404)
        else:
            reply = with_header(
                simple_reply(False, "use POST", True, 405), "Allow", "POST"
            )
        self._record(incoming, body, reply.status)
        self._send(reply)

    def _record(
        self,
        incoming: _Incoming,
        body: bytes,
        status: int,
        fault: Optional[str] = None,
        outcome: Optional[Outcome] = None,
    ) -> None:
        request = RecordedRequest(
            method=incoming.method,
            path=incoming.path,
            query=incoming.query,
            headers=incoming.headers,
            body=body,
            decoded_body=outcome.decoded_body if outcome is not None else b"",
            endpoint=incoming.endpoint,
            status=status,
            content_encoding=incoming.headers.get("content-encoding"),
            records=outcome.records if outcome is not None else 0,
            fault=fault,
        )
        self.server.state.store.add_request(request)

    def _drop(self) -> None:
        """Close the connection without writing anything."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            _logger.debug("Mixpanel test server: client went away before the reply")
            self.close_connection = True
