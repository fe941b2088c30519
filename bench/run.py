"""The benchmark runner: ``python -m bench.run`` (``hatch run bench:run``).

Starts the local Mixpanel server and an OTLP sink in processes of their own,
runs every measurement ``--runs`` times, prints one markdown table of medians,
ratios and targets, and writes it to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from . import latency, throughput
from .outage import run_outage
from .profile import profile_export
from .report import NOT_AVAILABLE, Row, median, table, write_results
from .sections import latency_rows, outage_rows, throughput_rows, wire_rows
from .servers import ServerProcess
from .workloads import Sizes, build_spans


def _progress(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def _throughput(
    sizes: Sizes, spans: List[Any], mixpanel: ServerProcess, otlp: ServerProcess
) -> Dict[str, List[Dict[str, Any]]]:
    """Every throughput measurement, ``sizes.runs`` times each."""
    results: Dict[str, List[Dict[str, Any]]] = {}

    def keep(name: str, result: Optional[Dict[str, Any]]) -> None:
        if result is not None:
            results.setdefault(name, []).append(result)

    captured = throughput.capture_bodies(spans, sizes.span_batch, mixpanel)
    for run in range(sizes.runs):
        _progress(f"throughput run {run + 1}/{sizes.runs}")
        keep("ours", throughput.export_ours(spans, sizes.span_batch, mixpanel))
        keep("otlp", throughput.export_otlp(spans, sizes.span_batch, otlp))
        if captured:
            keep("floor", throughput.floor(captured, mixpanel))
        keep("official_50", throughput.track_official(sizes.tracks, 50, mixpanel))
        keep("ours_50", throughput.track_ours(sizes.tracks, 50, mixpanel))
        keep("ours_2000", throughput.track_ours(sizes.tracks, 2000, mixpanel))
    return results


def _latency(
    sizes: Sizes, mixpanel: ServerProcess, otlp: ServerProcess, notes: List[str]
) -> Dict[str, Optional[Dict[str, float]]]:
    """Per-call cost of each way to log or track: medians over the runs."""
    measurements: Dict[str, Callable[[], Optional[latency.Timed]]] = {
        "no_handler": lambda: latency.log_without_handler(sizes.calls),
        "mixpanel_handler": lambda: latency.log_mixpanel_handler(sizes.calls, mixpanel),
        "otel_handler": lambda: latency.log_otel_handler(sizes.calls, otlp),
        "background": lambda: latency.track_background(sizes.calls, mixpanel),
        "official_buffered": lambda: latency.track_official_buffered(
            sizes.calls, mixpanel
        ),
    }
    summaries: Dict[str, List[Dict[str, float]]] = {name: [] for name in measurements}
    accepted: Dict[str, List[int]] = {}
    for run in range(sizes.runs):
        _progress(f"latency run {run + 1}/{sizes.runs}")
        for name, measure in measurements.items():
            timed = measure()
            if timed is not None:
                summaries[name].append(latency.summary(timed[0]))
                if timed[1] is not None:
                    accepted.setdefault(name, []).append(timed[1])
    total = sizes.calls + latency.WARMUP
    for name, counts in accepted.items():
        if min(counts) < total:
            notes.append(
                f"latency {name}: the server accepted {min(counts)} to"
                f" {max(counts)} of {total} events per run (back-to-back calls"
                " overflow the queue; the consumer counts what it drops)."
            )
    return {
        name: (
            {
                key: median([summary[key] for summary in found])
                for key in ("median", "p99")
            }
            if found
            else None
        )
        for name, found in summaries.items()
    }


def _wire(
    sizes: Sizes, spans: List[Any], mixpanel: ServerProcess
) -> Dict[str, Optional[Dict[str, Any]]]:
    """Requests and bytes for ``sizes.wire_events`` events, once each."""
    count = sizes.wire_events
    wire_spans = spans[:count]
    _progress("requests and bytes on the wire")

    def server_of(result: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        return None if result is None else dict(result["server"], events=count)

    return {
        "ours_gzip": server_of(throughput.track_ours(count, 2000, mixpanel)),
        "ours_plain": server_of(
            throughput.track_ours(count, 2000, mixpanel, gzip=False)
        ),
        "official": server_of(throughput.track_official(count, 50, mixpanel)),
        "spans_512": server_of(throughput.export_ours(wire_spans, 512, mixpanel)),
        "spans_gzip": server_of(throughput.export_ours(wire_spans, 2000, mixpanel)),
        "spans_plain": server_of(
            throughput.export_ours(wire_spans, 2000, mixpanel, gzip=False)
        ),
    }


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the options, run everything, print and write the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny workload, 1 run")
    parser.add_argument("--outage-seconds", type=float, default=None)
    parser.add_argument("--profile", action="store_true", help="profile the export")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--server",
        choices=("both", "validating", "sink"),
        default="both",
        help="Mixpanel side of sections 1-3: the validating local server, a sink"
        " that only answers (the clients without the server's own cost), or both;"
        " the other sections always use the validating server",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to skip: throughput,latency,wire,outage",
    )
    arguments = parser.parse_args(argv)
    skip = {part.strip() for part in arguments.skip.split(",") if part.strip()}
    if arguments.quick:
        sizes = Sizes.quick(arguments.outage_seconds)
    else:
        outage = arguments.outage_seconds
        sizes = Sizes(runs=arguments.runs, outage_seconds=outage or 60.0)

    rows: List[Row] = []
    notes: List[str] = []
    profile: Optional[str] = None
    kinds = {"validating": ["mixpanel"], "sink": ["mixpanel-sink"]}.get(
        arguments.server, ["mixpanel", "mixpanel-sink"]
    )
    with ServerProcess("mixpanel") as mixpanel, ServerProcess("otlp") as otlp:
        _progress(f"building {sizes.spans} spans")
        spans = build_spans(sizes.spans)
        for kind in kinds if "throughput" not in skip else []:
            label = "Mixpanel server" if kind == "mixpanel" else "Mixpanel sink"
            _progress(f"throughput against the {label}")
            with ServerProcess(kind) as target:
                results = _throughput(sizes, spans, target, otlp)
            rows += throughput_rows(results, sizes, notes, label)
        if "latency" not in skip:
            rows += latency_rows(_latency(sizes, mixpanel, otlp, notes), notes)
        if "wire" not in skip:
            rows += wire_rows(_wire(sizes, spans, mixpanel), sizes, notes)
        if arguments.profile:
            _progress("profiling the span export")
            with ServerProcess("mixpanel-sink") as sink:
                profile = profile_export(spans, sizes.span_batch, sink)
            if profile is None:
                profile = f"Span export profile: {NOT_AVAILABLE}.\n"
    if "outage" not in skip:
        outages = {}
        for mode in ("background", "spans"):
            _progress(f"outage of {sizes.outage_seconds:g} s via {mode}")
            outages[mode] = run_outage(mode, sizes.outage_seconds, sizes.rate)
        rows += outage_rows(outages, sizes, notes)

    print(table(rows))
    for note in notes:
        print(f"- {note}")
    if profile:
        print("\n" + profile)
    if not arguments.no_write:
        command = "python -m bench.run " + " ".join(argv or sys.argv[1:])
        settings = (
            f"Sections 1-3 against: {', '.join(kinds)}. Medians of {sizes.runs} run(s);"
            f" {sizes.spans} spans in batches of "
            f"{sizes.span_batch}; {sizes.tracks} track calls; {sizes.calls} timed "
            f"calls per latency row; outage {sizes.outage_seconds:g} s at "
            f"{sizes.rate} events/s."
        )
        write_results(rows, command.strip(), settings, notes, profile)
        _progress("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
