"""A Flask shop traced with no set-up code: run it under ``opentelemetry-instrument``.

The Flask instrumentation makes a span per request; the views only add
``mixpanel.*`` attributes to it through the OpenTelemetry API. Run::

    OTEL_SERVICE_NAME=shop OTEL_TRACES_EXPORTER=mixpanel \\
    OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none \\
    MIXPANEL_TOKEN=... opentelemetry-instrument python -m examples.zero_code_app

Stop it with Ctrl-C (SIGINT): the SDK delivers what is queued as it exits.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request
from opentelemetry import trace

app = Flask(__name__)

PRODUCTS = {1: ("Espresso cup", 9.5), 2: ("Milk jug", 14.0)}


@app.get("/products/<int:product_id>")
def view_product(product_id: int) -> Any:
    """Show a product; the request's span becomes a "Viewed product" event."""
    if product_id not in PRODUCTS:
        return {"error": "no such product"}, 404
    name, price = PRODUCTS[product_id]
    span = trace.get_current_span()
    span.set_attribute("mixpanel.event", "Viewed product")
    span.set_attribute("user.id", request.headers.get("X-User-Id", ""))
    span.set_attribute("product.name", name)
    span.set_attribute("product.price", price)
    return {"name": name, "price": price}


@app.post("/checkout")
def checkout() -> Any:
    """Place an order: an event, a span event, and a profile update."""
    span = trace.get_current_span()
    span.set_attribute("mixpanel.event", "Completed purchase")
    span.set_attribute("user.id", request.headers.get("X-User-Id", ""))
    span.set_attribute("order.total", 23.5)
    span.set_attribute("mixpanel.people.increment.purchases", 1)
    span.set_attribute("mixpanel.group.company", "acme")
    span.add_event("Payment authorised", {"payment.method": "card"})
    return {"status": "ok"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
