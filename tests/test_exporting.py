"""The delivery budget the exporters share: an outage does not hold the SDK's worker."""

from __future__ import annotations

from otel_mixpanel._exporting import DeliveryBudget


def test_after_a_failure_deliveries_get_a_short_time() -> None:
    """Once a delivery left messages unsent, the next gets one try within 1 s."""
    budget = DeliveryBudget(after_failure=1.0)
    assert (budget.seconds(30.0), budget.retries()) == (30.0, None)
    budget.record(all_sent=False)
    assert (budget.seconds(30.0), budget.retries()) == (1.0, 0)
    assert budget.seconds(0.5) == 0.5


def test_a_full_delivery_restores_the_whole_deadline() -> None:
    """After everything was sent, the next delivery has its whole deadline."""
    budget = DeliveryBudget()
    budget.record(all_sent=False)
    budget.record(all_sent=True)
    assert (budget.seconds(30.0), budget.retries()) == (30.0, None)
