"""Memory while the Mixpanel server is down, under a steady event rate.

``python -m bench.outage background|spans --seconds S --rate R`` runs in a
fresh process (so its heap is its own), starts its own server process, and
prints one JSON line: traced heap at baseline, during and after the outage.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable, Dict, List, Optional, Tuple

from .servers import ROOT, ServerProcess
from .workloads import (
    EVENT_NAME,
    TOKEN,
    optional,
    properties,
    span_attributes,
    span_exporter,
    user_id,
)

_TICK = 0.01
_SAMPLE_EVERY = 0.1
_MB = 1024 * 1024


def run_outage(
    mode: str, seconds: float, rate: int, server: str = "mixpanel"
) -> Dict[str, Any]:
    """Run one outage scenario in a child process and return its findings."""
    command = [sys.executable, "-m", "bench.outage", mode]
    command += ["--seconds", str(seconds), "--rate", str(rate), "--server", server]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 120,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        return {"error": (completed.stderr.strip().splitlines() or ["failed"])[-1]}
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


class _Scenario:
    """Something that takes events at a rate and can be flushed and closed."""

    def __init__(
        self,
        emit: Callable[[int], None],
        flush: Callable[[float], Any],
        close: Callable[[], None],
        limits: Dict[str, int],
        losses: Callable[[], Dict[str, int]],
        held: Callable[[], Optional[int]],
    ) -> None:
        self.emit, self.flush, self.close = emit, flush, close
        self.limits, self.losses, self.held = limits, losses, held


def _background(url: str) -> Optional[_Scenario]:
    import otel_mixpanel

    consumer_class = optional("BackgroundConsumer")
    if consumer_class is None:
        return None
    consumer = consumer_class(api_host=url)
    client = otel_mixpanel.Mixpanel(TOKEN, consumer=consumer)

    def emit(index: int) -> None:
        client.track(user_id(index), EVENT_NAME, properties(index))

    return _Scenario(
        emit,
        lambda timeout: consumer.flush(timeout),
        consumer.close,
        _limits(consumer),
        lambda: _snapshot(consumer),
        lambda: _held(
            getattr(consumer, "_processor", None), getattr(consumer, "_buffered", None)
        ),
    )


def _spans(url: str) -> Optional[_Scenario]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = span_exporter(url)
    if exporter is None:
        return None
    processor = BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench.outage")

    def emit(index: int) -> None:
        with tracer.start_as_current_span("POST /api/cart/checkout") as span:
            span.set_attributes(span_attributes(index))

    limits = {"span_queue": 2048}
    limits.update(_limits(exporter))

    return _Scenario(
        emit,
        lambda timeout: provider.force_flush(int(timeout * 1000)),
        provider.shutdown,
        limits,
        lambda: _snapshot(exporter),
        lambda: _held(processor, getattr(exporter, "_consumer", None)),
    )


def _held(processor: Any, buffered: Any) -> Optional[int]:
    """Items in the SDK's batch queue plus messages in the buffered consumer.

    Reads private parts, for the benchmark only; the batch being exported at
    that moment is in neither. None when those parts cannot be found.
    """
    queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
    pending = getattr(buffered, "pending", None)
    if queue is None or not callable(pending):
        return None
    return len(queue) + int(pending())


def _limits(component: Any) -> Dict[str, int]:
    """The default queue and buffer sizes (the scenarios use the defaults)."""
    found: Dict[str, int] = {}
    for module, constant, label in (
        ("otel_mixpanel._background", "DEFAULT_MAX_QUEUE_SIZE", "message_queue"),
        ("otel_mixpanel._buffered", "DEFAULT_MAX_BUFFER", "buffer"),
    ):
        if (
            label == "message_queue"
            and type(component).__name__ != "BackgroundConsumer"
        ):
            continue
        value = getattr(sys.modules.get(module), constant, None)
        if isinstance(value, int):
            found[label] = value
    return found


def _snapshot(component: Any) -> Dict[str, int]:
    losses = getattr(component, "losses", None)
    snapshot = getattr(losses, "snapshot", None)
    return dict(snapshot()) if callable(snapshot) else {}


def _drive(
    scenario: _Scenario, rate: int, seconds: float, first: int
) -> Tuple[int, List[Tuple[float, int, Optional[int]]]]:
    """Emit ``rate`` events per second for ``seconds``; sample heap and held."""
    start = time.monotonic()
    emitted = 0
    samples: List[Tuple[float, int, Optional[int]]] = []
    next_sample = start
    while True:
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= seconds:
            break
        due = int(rate * elapsed) - emitted
        for _ in range(due):
            scenario.emit(first + emitted)
            emitted += 1
        if now >= next_sample:
            heap = tracemalloc.get_traced_memory()[0]
            samples.append((elapsed, heap, scenario.held()))
            next_sample += _SAMPLE_EVERY
        time.sleep(max(0.0, _TICK - (time.monotonic() - now)))  # the pace
    return emitted, samples


def _settled_heap() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(
    mode: str, seconds: float, rate: int, server_kind: str = "mixpanel"
) -> Dict[str, Any]:
    """Warm up, take the server down for ``seconds``, bring it back, measure."""
    warmup = max(0.2, min(5.0, seconds / 10))
    recovery = max(0.5, min(10.0, seconds / 6))
    tracemalloc.start()
    with ServerProcess(server_kind) as server:
        scenario = (_background if mode == "background" else _spans)(server.url)
        if scenario is None:
            return {"error": "not available"}
        sent, _ = _drive(scenario, rate, warmup, 0)
        scenario.flush(30.0)
        baseline = _settled_heap()
        tracemalloc.reset_peak()

        server.set_down(True)
        emitted, samples = _drive(scenario, rate, seconds, sent)
        server.set_down(False)
        peak = tracemalloc.get_traced_memory()[1]
        sent += emitted

        emitted, _ = _drive(scenario, rate, recovery, sent)
        sent += emitted
        scenario.flush(60.0)
        after = _settled_heap()
        losses = scenario.losses()
        scenario.close()
        received = server.take()

    half = seconds / 2
    first_half = max((heap for at, heap, _ in samples if at < half), default=baseline)
    second_half = max((heap for at, heap, _ in samples if at >= half), default=baseline)
    held = [count for _, _, count in samples if count is not None]
    return {
        "mode": mode,
        "seconds": seconds,
        "rate": rate,
        "sent": sent,
        "accepted": received.get("accepted", 0),
        "baseline_mb": baseline / _MB,
        "peak_mb": (peak - baseline) / _MB,
        "first_half_mb": (first_half - baseline) / _MB,
        "second_half_mb": (second_half - baseline) / _MB,
        "after_mb": (after - baseline) / _MB,
        "peak_rss_mb": _peak_rss_mb(),
        "max_held": max(held) if held else None,
        "held_at_end": held[-1] if held else None,
        "limits": scenario.limits,
        "losses": losses,
    }


def main() -> None:
    """Command line entry of the child process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("background", "spans"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--server", default="mixpanel")
    arguments = parser.parse_args()
    result = measure(
        arguments.mode, arguments.seconds, arguments.rate, arguments.server
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
