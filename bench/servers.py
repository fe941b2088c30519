"""The benchmark's servers, each in a process of its own, driven over a pipe.

``python -m bench.servers mixpanel|mixpanel-sink|otlp`` prints ``{"url": ...}``,
then answers one JSON line per command read on stdin (``stats``, ``take``,
``down``, ``up``) and stops when stdin closes. :class:`ServerProcess` is the
parent's side.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Optional

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """A benchmark server running in a child process."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.servers", kind],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.url: str = hello["url"]

    def command(self, name: str) -> Dict[str, Any]:
        """Send one command and return the server's JSON answer."""
        assert self._process.stdin is not None
        self._process.stdin.write(name + "\n")
        self._process.stdin.flush()
        return self._read()

    def take(self) -> Dict[str, Any]:
        """Counts of what arrived since the last ``take``; then forget it."""
        return self.command("take")

    def set_down(self, down: bool) -> None:
        """Close every connection without a reply (down) or serve again (up)."""
        self.command("down" if down else "up")

    def close(self) -> None:
        """Close the pipe (the server stops) and reap the process."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self) -> Dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} server process exited early")
        answer: Dict[str, Any] = json.loads(line)
        return answer


# -- the child side ----------------------------------------------------------


class _SinkStats:
    """Requests and body bytes an OTLP sink received."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.down = False


class _SinkHandler(BaseHTTPRequestHandler):
    """Reads the body of any POST and answers 200 with an empty body."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _SinkServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        stats = self.server.stats
        with stats.lock:
            down = stats.down
            if not down:
                stats.requests += 1
                stats.bytes += len(body)
        if down:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        reply = self.server.reply
        self.send_response(200)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """No request lines on stderr."""


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: bytes, content_type: str) -> None:
        self.stats = _SinkStats()
        self.reply = reply
        self.content_type = content_type
        super().__init__(("127.0.0.1", 0), _SinkHandler)


def _serve_sink(kind: str) -> Callable[[str], Dict[str, Any]]:
    """An OTLP sink, or (``mixpanel-sink``) a /track sink that validates nothing."""
    if kind == "otlp":
        httpd = _SinkServer(b"", "application/x-protobuf")
    else:
        httpd = _SinkServer(b'{"status":1,"error":null}', "application/json")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _say({"url": f"http://127.0.0.1:{httpd.server_address[1]}"})
    stats = httpd.stats
    cpu = _CpuClock()

    def answer(command: str) -> Dict[str, Any]:
        with stats.lock:
            if command in ("down", "up"):
                stats.down = command == "down"
                return {"ok": True}
            counts: Dict[str, Any] = {"requests": stats.requests, "bytes": stats.bytes}
            if command == "take":
                stats.requests = stats.bytes = 0
        counts["cpu"] = cpu.read(reset=command == "take")
        return counts

    return answer


def _serve_mixpanel() -> Callable[[str], Dict[str, Any]]:
    from otel_mixpanel.testing import MixpanelServer

    server = MixpanelServer(token=None).start()
    _say({"url": server.url})
    cpu = _CpuClock()

    def answer(command: str) -> Dict[str, Any]:
        if command in ("down", "up"):
            server.set_down(command == "down")
            return {"ok": True}
        requests = server.requests()
        counts: Dict[str, Any] = {
            "requests": len(requests),
            "bytes": sum(len(request.body) for request in requests),
            "decoded_bytes": sum(len(request.decoded_body) for request in requests),
            "records": sum(request.records for request in requests),
            "accepted": _accepted_events(server),
            "failed": sum(1 for request in requests if request.status != 200),
            "gzip": sum(1 for request in requests if request.content_encoding),
            "cpu": cpu.read(reset=command == "take"),
        }
        if command == "take":
            server.reset()
        return counts

    return answer


class _CpuClock:
    """CPU seconds this process used since the last reset."""

    def __init__(self) -> None:
        self._start = time.process_time()

    def read(self, reset: bool) -> float:
        now = time.process_time()
        used = now - self._start
        if reset:
            self._start = now
        return used


def _accepted_events(server: Any) -> int:
    """Accepted events, counted without copying them when the server allows."""
    store = getattr(server, "_store", None)
    count = getattr(store, "count_events", None)
    if callable(count):
        return int(count())
    return len(server.events())


def _say(message: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: Optional[list[str]] = None) -> None:
    """Serve until stdin closes, answering one command per line."""
    kind = (argv or sys.argv[1:] or ["mixpanel"])[0]
    answer = _serve_mixpanel() if kind == "mixpanel" else _serve_sink(kind)
    for line in sys.stdin:
        command = line.strip()
        if command:
            _say(answer(command))


if __name__ == "__main__":
    main()
