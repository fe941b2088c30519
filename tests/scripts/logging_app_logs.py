"""A tiny app run under opentelemetry-instrument by test_autoinstrument_logs.

It only uses ``logging`` (and ``requests``, whose urllib3 debug lines must not
become events): the SDK's logging handler and OTEL_LOGS_EXPORTER=mixpanel,
both set up by opentelemetry-instrument, deliver at exit.
"""

from __future__ import annotations

import logging
import os
import sys

import requests


def main() -> None:
    """Log two named events, one plain line and some HTTP-client chatter."""
    user_id = sys.argv[1] if len(sys.argv) > 1 else "script-user"
    logging.getLogger().setLevel(logging.DEBUG)
    orders = logging.getLogger("shop.orders")
    orders.info(
        "Order %s placed",
        "o-1",
        extra={
            "mixpanel.event": "Order placed",
            "mixpanel.distinct_id": user_id,
            "amount": 12.5,
        },
    )
    requests.get(os.environ["MIXPANEL_API_HOST"] + "/health", timeout=5)
    orders.info("Plain line")
    logging.getLogger("shop.mail").warning(
        "Welcome mail", extra={"otel.event.name": "Mail queued", "user.id": user_id}
    )


if __name__ == "__main__":
    main()
