"""The demo's instrumented service: a small shop on ``wsgiref`` with manual spans.

Each request is a server span; the views mark the spans that matter for
Mixpanel, add span events, and log through the ``logging`` module.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otel_mixpanel import mark_span

logger = logging.getLogger("examples.shop")

PRODUCTS = {1: ("Espresso cup", 9.5), 2: ("Milk jug", 14.0)}
StartResponse = Callable[..., object]


class Shop:
    """A WSGI application with three routes; every request is a span."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._carts: dict[str, list[int]] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        user = environ.get("HTTP_X_USER_ID") or None
        company = environ.get("HTTP_X_COMPANY") or None
        route = "/products/{id}" if path.startswith("/products/") else path
        attributes = {
            "http.request.method": method,
            "http.route": route,
            "url.path": path,
        }
        with self._tracer.start_as_current_span(
            f"{method} {route}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            if route == "/products/{id}":
                status, body = self._view_product(path, user, company)
            elif route == "/cart":
                status, body = self._add_to_cart(environ, user, company)
            elif route == "/checkout":
                status, body = self._checkout(user, company)
            else:
                status, body = 404, {"error": "not found"}
            span.set_attribute("http.response.status_code", status)
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def _view_product(
        self, path: str, user: Optional[str], company: Optional[str]
    ) -> tuple[int, dict[str, Any]]:
        product_id = int(path.rsplit("/", 1)[1])
        if product_id not in PRODUCTS:
            trace.get_current_span().set_status(StatusCode.ERROR, "no such product")
            # A log record becomes an event named by its unformatted message.
            logger.warning(
                "Product %s not found", product_id, extra={"distinct_id": user}
            )
            return 404, {"error": "no such product"}
        name, price = PRODUCTS[product_id]
        mark_span(
            "Viewed product",
            user,
            properties={"product.name": name, "product.price": price},
            groups={"company": company} if company else None,
        )
        return 200, {"name": name, "price": price}

    def _add_to_cart(
        self, environ: dict[str, Any], user: Optional[str], company: Optional[str]
    ) -> tuple[int, dict[str, Any]]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        product_id = int(json.loads(environ["wsgi.input"].read(length))["product_id"])
        cart = self._carts.setdefault(user or "", [])
        cart.append(product_id)
        span = mark_span(
            "Added to cart",
            user,
            properties={
                "product.name": PRODUCTS[product_id][0],
                "cart.size": len(cart),
            },
            groups={"company": company} if company else None,
        )
        # Span events of a marked span become events of their own.
        span.add_event("Applied coupon", {"coupon": "WELCOME10"})
        return 200, {"cart": cart}

    def _checkout(
        self, user: Optional[str], company: Optional[str]
    ) -> tuple[int, dict[str, Any]]:
        cart = self._carts.pop(user or "", [])
        total = round(sum(PRODUCTS[item][1] for item in cart) * 0.9, 2)
        mark_span(
            "Completed purchase",
            user,
            properties={"order.total": total, "order.items": len(cart)},
            set={"last_order_total": total},
            set_once={"first_purchase_at": datetime.now(timezone.utc).isoformat()},
            increment={"purchases": 1},
            groups={"company": company} if company else None,
        )
        with self._tracer.start_as_current_span("charge card"):  # unmarked: not sent
            # Logged inside a span: the event carries that span's trace id.
            logger.info(
                "Order %s placed",
                "A-1001",
                extra={"distinct_id": user, "order.total": total},
            )
        return 200, {"total": total}


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the access log out of the demo's output."""


def serve(app: Shop) -> tuple[WSGIServer, threading.Thread, str]:
    """Serve ``app`` on a free loopback port in a thread; return the base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


def visit(base_url: str) -> int:
    """Two customers browse and one buys; returns how many requests were made."""
    visits = [
        ("alice", "acme", "GET", "/products/1", None),
        ("alice", "acme", "POST", "/cart", {"product_id": 1}),
        ("alice", "acme", "POST", "/cart", {"product_id": 2}),
        ("alice", "acme", "POST", "/checkout", {}),
        ("bob", "globex", "GET", "/products/2", None),
        ("bob", "globex", "GET", "/products/99", None),
    ]
    for user, company, method, path, payload in visits:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            base_url + path,
            data=data,
            method=method,
            headers={"X-User-Id": user, "X-Company": company},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as error:  # the 404 is part of the visit
            error.read()
    return len(visits)
