"""How the local Mixpanel server turns one request into a reply and accepted records.

``/track``, ``/engage`` and ``/groups`` are all-or-nothing per request (one bad
record rejects the batch, HTTP 200 with status 0); ``/import`` checks Basic
auth, keeps the valid records and reports the others when ``strict=1``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ._validate import event_problem, profile_problem
from ._wire import (
    BodyError,
    Reply,
    decode_content,
    error_reply,
    import_reply,
    parse_body,
    simple_reply,
)

_TRUE = ("1", "true")


@dataclass(frozen=True)
class Settings:
    """What the server expects: credentials, limits and its clock."""

    token: Optional[str]
    service_account: Optional[Tuple[str, str]]
    project_id: Optional[str]
    api_secret: Optional[str]
    max_batch: int
    max_body_bytes: int
    now: Callable[[], float]


@dataclass(frozen=True)
class Outcome:
    """The reply to a request and what it got accepted."""

    reply: Reply
    decoded_body: bytes = b""
    records: int = 0
    accepted: List[Dict[str, Any]] = field(default_factory=list)


def ingest(
    settings: Settings,
    endpoint: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
) -> Outcome:
    """Process one POST to ``endpoint`` the way Mixpanel would."""
    verbose = query.get("verbose", "").lower() in _TRUE
    body_error: Optional[BodyError] = None
    try:
        decoded = decode_content(
            body, headers.get("content-encoding"), settings.max_body_bytes
        )
    except BodyError as error:
        decoded, body_error = b"", error

    if endpoint == "imports":
        auth_error = _import_auth_error(settings, query, headers.get("authorization"))
        if auth_error is not None:
            return Outcome(auth_error, decoded)
    if body_error is None:
        try:
            parsed = parse_body(decoded, headers.get("content-type"))
        except BodyError as error:
            body_error = error
    if body_error is not None:
        reply = error_reply(endpoint, body_error.status, body_error.message, verbose)
        return Outcome(reply, decoded)

    records = parsed.records
    verbose = verbose or parsed.form.get("verbose", "").lower() in _TRUE
    strict = (query.get("strict") or parsed.form.get("strict") or "").lower() in _TRUE
    if len(records) > settings.max_batch:
        message = f"more than {settings.max_batch} records in one request"
        return Outcome(
            error_reply(endpoint, 413, message, verbose), decoded, len(records)
        )
    if endpoint == "imports":
        return _import(settings, records, strict, decoded)
    return _all_or_nothing(settings, endpoint, records, verbose, decoded)


def _all_or_nothing(
    settings: Settings,
    endpoint: str,
    records: List[Any],
    verbose: bool,
    decoded: bytes,
) -> Outcome:
    now = settings.now()
    for index, record in enumerate(records):
        if endpoint == "events":
            problem = event_problem(
                record,
                endpoint=endpoint,
                token=settings.token,
                strict=False,
                now=now,
                body_size=len(decoded),
            )
        else:
            problem = profile_problem(record, endpoint=endpoint, token=settings.token)
        if problem is not None:
            error = f"record {index}: {problem}"
            return Outcome(simple_reply(False, error, verbose), decoded, len(records))
    return Outcome(simple_reply(True, None, verbose), decoded, len(records), records)


def _import(
    settings: Settings, records: List[Any], strict: bool, decoded: bytes
) -> Outcome:
    now = settings.now()
    accepted: List[Dict[str, Any]] = []
    failed: List[Dict[str, Any]] = []
    for index, record in enumerate(records):
        problem = event_problem(
            record,
            endpoint="imports",
            token=settings.token,
            strict=strict,
            now=now,
            body_size=len(decoded),
        )
        if problem is None:
            accepted.append(record)
            continue
        properties = record.get("properties") if isinstance(record, dict) else None
        insert_id = (
            properties.get("$insert_id") if isinstance(properties, dict) else None
        )
        failed.append(
            {
                "index": index,
                "$insert_id": insert_id,
                "field": problem.field,
                "message": problem.message,
            }
        )
    if strict and failed:
        reply = import_reply(
            400,
            error="some data points in the request failed validation",
            num_records_imported=len(accepted),
            failed_records=failed,
        )
    else:
        reply = import_reply(200, num_records_imported=len(accepted))
    return Outcome(reply, decoded, len(records), accepted)


def _import_auth_error(
    settings: Settings, query: Mapping[str, str], authorization: Optional[str]
) -> Optional[Reply]:
    """None when ``/import`` credentials are good, else the 400/401 reply."""
    credentials = _basic_credentials(authorization)
    if credentials is None:
        return import_reply(401, error="missing or malformed HTTP Basic credentials")
    user, password = credentials
    if settings.service_account is not None and _same(
        user, settings.service_account[0]
    ):
        if not _same(password, settings.service_account[1]):
            return import_reply(401, error="invalid service account credentials")
        project_id = query.get("project_id")
        if not project_id:
            return import_reply(
                400, error="project_id is required with service account credentials"
            )
        if settings.project_id is not None and project_id != settings.project_id:
            return import_reply(401, error="service account has no access to project")
        return None
    if password == "" and user:
        if settings.api_secret is not None and _same(user, settings.api_secret):
            return None
        if settings.token is None or _same(user, settings.token):
            return None
    return import_reply(401, error="invalid credentials")


def _basic_credentials(authorization: Optional[str]) -> Optional[Tuple[str, str]]:
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, separator, password = decoded.partition(":")
    if not separator:
        return None
    return user, password


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
