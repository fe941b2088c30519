"""Request bodies and replies of the local Mixpanel server, in Mixpanel's shapes.

Decodes gzip, form, JSON and NDJSON bodies into records, and builds the
``1``/``0``, verbose and ``/import`` replies Mixpanel answers with.
"""

from __future__ import annotations

import base64
import binascii
import http
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
NDJSON = "application/x-ndjson"
#: Largest raw body read from the socket, whatever ``max_body_bytes`` says.
MAX_RAW_BODY = 256 * 1024 * 1024


class _Stream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...


class BodyError(Exception):
    """A request body that cannot be used; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ParsedBody:
    """The records of a request and the form fields sent with them."""

    records: List[Any]
    form: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: Tuple[Tuple[str, str], ...] = ()


def read_body(stream: _Stream, headers: Mapping[str, str]) -> bytes:
    """Read a request body by ``Content-Length`` or chunked transfer coding.

    Raises:
        BodyError: for a malformed length or chunk, or a body over 256 MiB.
    """
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(stream)
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        raise BodyError("invalid Content-Length") from None
    if length < 0 or length > MAX_RAW_BODY:
        raise BodyError("Content-Length out of range", status=413)
    return stream.read(length)


def decode_content(body: bytes, content_encoding: Optional[str], limit: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip or identity), reading at most ``limit + 1``.

    Raises:
        BodyError: 415 for an unknown encoding, 400 for a broken gzip stream,
            413 when the decoded body is larger than ``limit`` bytes.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        decoded = body
    elif encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            decoded = decoder.decompress(body, limit + 1)
        except zlib.error:
            raise BodyError("request body is not valid gzip") from None
        if len(decoded) <= limit and not decoder.eof:
            raise BodyError("request body is truncated gzip")
    else:
        raise BodyError(f"unsupported Content-Encoding {encoding!r}", status=415)
    if len(decoded) > limit:
        raise BodyError(
            f"uncompressed request body is larger than {limit} bytes", status=413
        )
    return decoded


def parse_body(decoded: bytes, content_type: Optional[str]) -> ParsedBody:
    """Return the records of a form, JSON or NDJSON body.

    Without a known ``Content-Type`` the body is sniffed: a body starting with
    ``[`` or ``{`` is JSON (or NDJSON), anything else a form.

    Raises:
        BodyError: 400 when the body is not valid for its type or is empty.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("request body is not UTF-8") from None
    if media_type not in (FORM, JSON, NDJSON):
        stripped = text.lstrip()
        if stripped.startswith(("[", "{")):
            media_type = JSON if _is_json(stripped) else NDJSON
        else:
            media_type = FORM
    if media_type == FORM:
        return _parse_form(text)
    if media_type == NDJSON:
        return ParsedBody(_parse_ndjson(text))
    return ParsedBody(_as_records(_load_json(text)))


def simple_reply(
    accepted: bool, error: Optional[str], verbose: bool, status: int = 200
) -> Reply:
    """The ``/track``, ``/engage`` and ``/groups`` answer: ``1``/``0`` or verbose."""
    if verbose:
        document = {"status": 1 if accepted else 0, "error": error}
        return Reply(status, _dump(document))
    return Reply(status, b"1" if accepted else b"0", content_type="text/plain")


def import_reply(
    status: int,
    error: Optional[str] = None,
    num_records_imported: Optional[int] = None,
    failed_records: Optional[Sequence[Dict[str, Any]]] = None,
) -> Reply:
    """The ``/import`` answer: ``{"code": ..., "status": ...}`` plus details."""
    document: Dict[str, Any] = {"code": status}
    if error is not None:
        document["error"] = error
    if failed_records is not None:
        document["failed_records"] = list(failed_records)
    if num_records_imported is not None:
        document["num_records_imported"] = num_records_imported
    document["status"] = "OK" if status == 200 else _phrase(status)
    return Reply(status, _dump(document))


def error_reply(endpoint: str, status: int, error: str, verbose: bool = True) -> Reply:
    """A failure in the shape of ``endpoint``: import JSON or ``0``/verbose."""
    if endpoint == "imports":
        return import_reply(status, error=error)
    return simple_reply(False, error, verbose, status=status)


def with_header(reply: Reply, name: str, value: str) -> Reply:
    """Return ``reply`` with one more header."""
    return Reply(
        reply.status, reply.body, reply.content_type, (*reply.headers, (name, value))
    )


def _read_chunked(stream: _Stream) -> bytes:
    chunks = []
    total = 0
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError("malformed chunked body") from None
        if size == 0:
            break
        total += size
        if total > MAX_RAW_BODY:
            raise BodyError("chunked body too large", status=413)
        chunks.append(stream.read(size))
        stream.readline(1024)
    while stream.readline(1024) not in (b"\r\n", b"\n", b""):
        pass  # trailer fields
    return b"".join(chunks)


def _parse_form(text: str) -> ParsedBody:
    form = dict(parse_qsl(text, keep_blank_values=True))
    data = form.get("data")
    if data is None or not data.strip():
        raise BodyError("form has no data field")
    stripped = data.strip()
    if not stripped.startswith(("[", "{")):
        stripped = _from_base64(stripped)
    return ParsedBody(_as_records(_load_json(stripped)), form)


def _from_base64(data: str) -> str:
    padded = data + "=" * (-len(data) % 4)
    try:
        raw = base64.b64decode(
            padded.replace("-", "+").replace("_", "/"), validate=True
        )
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise BodyError("data is neither JSON nor base64 JSON") from None


def _parse_ndjson(text: str) -> List[Any]:
    records = [_load_json(line) for line in text.splitlines() if line.strip()]
    if not records:
        raise BodyError("request body holds no records")
    return records


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise BodyError("request body is not valid JSON") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _as_records(document: Any) -> List[Any]:
    if isinstance(document, list):
        if not document:
            raise BodyError("request body holds no records")
        return document
    if isinstance(document, dict):
        return [document]
    raise BodyError("data must be a JSON object or an array of objects")


def _dump(document: Dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"
