"""The exception raised on the direct API when Mixpanel cannot take a message."""

from __future__ import annotations

from typing import Any, Optional


class MixpanelException(Exception):  # noqa: N818 - the reference's public name
    """Raised when a message cannot be built, sent or accepted.

    A failed flush of a buffered consumer sets ``message`` (the JSON batch
    that failed) and ``endpoint`` (``"events"``, ``"people"``, ``"groups"``
    or ``"imports"``). ``status`` is the HTTP status when the server answered,
    and ``failed_records`` lists Mixpanel's per-record reasons for a strict
    import (dicts with ``index``, ``$insert_id``, ``field`` and ``message``).
    The text of the exception never holds a credential or a payload.
    """

    message: Optional[str] = None
    endpoint: Optional[str] = None
    status: Optional[int] = None
    failed_records: list[dict[str, Any]]

    def __init__(
        self,
        *args: object,
        endpoint: Optional[str] = None,
        status: Optional[int] = None,
        failed_records: Optional[list[dict[str, Any]]] = None,
    ) -> None:
        super().__init__(*args)
        if endpoint is not None:
            self.endpoint = endpoint
        self.status = status
        self.failed_records = failed_records or []
