"""Turn measurements into table rows: values, ratios, targets met or missed.

One function per section of the table; each appends notes for anything odd
(events the server did not accept, pieces not available yet).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .report import NOT_AVAILABLE, Row, median
from .workloads import Sizes

Results = Dict[str, List[Dict[str, Any]]]


def _rates(results: Results, name: str, count: int) -> Optional[Tuple[float, float]]:
    """Items per wall-clock second and per CPU second of this process."""
    found = results.get(name)
    if not found:
        return None
    wall = count / median([result["seconds"] for result in found])
    cpu = median([result["cpu"] for result in found])
    return wall, (count / cpu if cpu > 0 else 0.0)


def _check_accepted(results: Results, name: str, count: int, notes: List[str]) -> None:
    for result in results.get(name, []):
        accepted = result["server"].get("accepted")
        if accepted is not None and accepted != count:
            notes.append(
                f"{name}: the server accepted {accepted} of {count} events in a run;"
                " its rate is not comparable."
            )
            return


def _per_second(rates: Optional[Tuple[float, float]], unit: str) -> str:
    if rates is None:
        return NOT_AVAILABLE
    wall, cpu = rates
    return f"{wall:,.0f} {unit}/s ({cpu:,.0f} per CPU-s)"


def _compare(
    rates: Optional[Tuple[float, float]],
    reference: Optional[Tuple[float, float]],
    what: str,
    target: float,
) -> Tuple[str, Optional[bool], Optional[bool]]:
    """Ratio text (wall clock, then CPU) and whether each meets ``target``."""
    if rates is None or reference is None or not reference[0] or not reference[1]:
        return "", None, None
    wall, cpu = rates[0] / reference[0], rates[1] / reference[1]
    return f"{wall:.2f}x {what} ({cpu:.2f}x CPU)", wall >= target, cpu >= target


def throughput_rows(
    results: Results, sizes: Sizes, notes: List[str], server: str = ""
) -> List[Row]:
    """Sections 1 to 3 against one Mixpanel-side ``server`` (named in each row)."""
    own_notes: List[str] = []
    rows = _throughput_rows(results, sizes, own_notes)
    if server:
        for row in rows:
            row.measurement += f" [{server}]"
    notes.extend(f"[{server}] {note}" if server else note for note in own_notes)
    return rows


def _throughput_rows(results: Results, sizes: Sizes, notes: List[str]) -> List[Row]:
    for name in ("ours", "floor", "ours_50", "ours_2000", "official_50"):
        expected = sizes.spans if name in ("ours", "floor") else sizes.tracks
        _check_accepted(results, name, expected, notes)
    ours = _rates(results, "ours", sizes.spans)
    otlp = _rates(results, "otlp", sizes.spans)
    ratio, met, cpu_met = _compare(ours, otlp, "OTLP", 4.0)
    rows = [
        Row("1", "span export, OTLP/HTTP exporter", _per_second(otlp, "spans")),
        Row(
            "1",
            "span export, MixpanelSpanExporter",
            _per_second(ours, "spans"),
            ratio,
            ">= 4x OTLP",
            met,
            cpu_met,
        ),
    ]
    official = _rates(results, "official_50", sizes.tracks)
    rows.append(
        Row("2", "track, official BufferedConsumer(50)", _per_second(official, "ev"))
    )
    for name, target in (("ours_50", 1.5), ("ours_2000", 5.0)):
        ours_track = _rates(results, name, sizes.tracks)
        ratio, met, cpu_met = _compare(ours_track, official, "official", target)
        size = name.split("_")[1]
        rows.append(
            Row(
                "2",
                f"track, our BufferedConsumer({size})",
                _per_second(ours_track, "ev"),
                ratio,
                f">= {target:g}x official(50)",
                met,
                cpu_met,
            )
        )
    rows.append(_floor_row(results, notes))
    _server_cpu_note(results, notes)
    return rows


def _floor_row(results: Results, notes: List[str]) -> Row:
    floors, ours = results.get("floor"), results.get("ours")
    if not floors or not ours:
        return Row("3", "our export time / floor", NOT_AVAILABLE, "", "<= 1.5x")
    floor_seconds = median([result["seconds"] for result in floors])
    ours_seconds = median([result["seconds"] for result in ours])
    serialize = median([result["serialize"] for result in floors])
    post = median([result["post"] for result in floors])
    roundtrip = median([result["gzip_roundtrip"] for result in floors])
    notes.append(
        f"floor: json.dumps {serialize * 1000:.0f} ms + POST of the precomputed"
        f" bodies {post * 1000:.0f} ms; gunzip+gzip of the same bodies would take"
        f" {roundtrip * 1000:.0f} ms more (not in the floor)."
    )
    ratio = ours_seconds / floor_seconds
    floor_cpu = median([result["cpu"] for result in floors])
    ours_cpu = median([result["cpu"] for result in ours])
    cpu_ratio = ours_cpu / floor_cpu if floor_cpu > 0 else 0.0
    return Row(
        "3",
        "our export time / floor",
        f"{ours_seconds * 1000:.0f} ms vs {floor_seconds * 1000:.0f} ms",
        f"{ratio:.2f}x ({cpu_ratio:.2f}x CPU)",
        "<= 1.5x",
        ratio <= 1.5,
        cpu_ratio <= 1.5,
    )


def _server_cpu_note(results: Results, notes: List[str]) -> None:
    parts = []
    for name, label in (
        ("ours", "MixpanelSpanExporter"),
        ("otlp", "OTLP"),
        ("floor", "floor"),
    ):
        found = results.get(name)
        if found:
            cpu = median([result["server"].get("cpu", 0.0) for result in found])
            parts.append(f"{label} {cpu * 1000:.0f} ms")
    if parts:
        notes.append(
            "CPU time of the server process per span-export run: "
            + ", ".join(parts)
            + "."
        )


def latency_rows(
    summaries: Dict[str, Optional[Dict[str, float]]], notes: List[str]
) -> List[Row]:
    """Section 4: per-call cost on the application thread."""

    def value(name: str) -> str:
        found = summaries.get(name)
        if found is None:
            return NOT_AVAILABLE
        return f"median {found['median']:.1f} us, p99 {found['p99']:.1f} us"

    ours, otel = summaries.get("mixpanel_handler"), summaries.get("otel_handler")
    handler_ratio = (
        ours["median"] / otel["median"] if ours is not None and otel else None
    )
    background = summaries.get("background")
    official = summaries.get("official_buffered")
    background_met = None
    background_ratio = ""
    if background is not None and official is not None:
        background_met = background["p99"] < official["median"]
        background_ratio = (
            f"p99/official median {background['p99'] / official['median']:.2f}x"
        )
    return [
        Row("4", "logger.info, no handler", value("no_handler")),
        Row("4", "logger.info, OTel LoggingHandler + batch", value("otel_handler")),
        Row(
            "4",
            "logger.info, MixpanelHandler",
            value("mixpanel_handler"),
            "" if handler_ratio is None else f"{handler_ratio:.2f}x OTel (median)",
            "<= 1.2x OTel handler",
            None if handler_ratio is None else handler_ratio <= 1.2,
        ),
        Row("4", "track, official BufferedConsumer(50)", value("official_buffered")),
        Row(
            "4",
            "track, BackgroundConsumer",
            value("background"),
            background_ratio,
            "p99 < official median",
            background_met,
        ),
    ]


def wire_rows(
    wire: Dict[str, Optional[Dict[str, Any]]], sizes: Sizes, notes: List[str]
) -> List[Row]:
    """Section 5a: requests and bytes for the wire workload (10,000 events)."""
    labels = {
        "official": ("official BufferedConsumer(50), form", False),
        "ours_gzip": ("our BufferedConsumer(2000), gzip", True),
        "ours_plain": ("our BufferedConsumer(2000), no gzip", True),
        "spans_512": ("span exporter, BSP batches of 512, gzip", False),
        "spans_gzip": ("span exporter, batches of 2000, gzip", True),
        "spans_plain": ("span exporter, batches of 2000, no gzip", True),
    }
    rows = []
    for name, (label, targeted) in labels.items():
        found = wire.get(name)
        if found is None:
            rows.append(
                Row("5", f"wire, {sizes.wire_events:,} events: {label}", NOT_AVAILABLE)
            )
            continue
        events, requests = found["events"], found["requests"]
        limit = -(-events // 2000)
        rows.append(
            Row(
                "5",
                f"wire, {events:,} events: {label}",
                f"{requests} requests, {found['bytes'] / 1024:,.0f} KiB",
                "",
                f"<= {limit} requests" if targeted else "",
                requests <= limit if targeted else None,
            )
        )
        if found.get("failed"):
            notes.append(f"wire {name}: {found['failed']} request(s) failed.")
    return rows


def outage_rows(
    outages: Dict[str, Dict[str, Any]], sizes: Sizes, notes: List[str]
) -> List[Row]:
    """Section 5b: traced heap during and after the outage."""
    rows = []
    judged = sizes.outage_seconds >= 20
    if not judged:
        notes.append(
            f"outage of {sizes.outage_seconds:g} s is too short to fill the queues;"
            " the memory rows are not judged."
        )
    for mode, label in (("background", "BackgroundConsumer"), ("spans", "exporter")):
        found = outages.get(mode, {})
        if "error" in found or not found:
            rows.append(
                Row(
                    "5",
                    f"outage memory, {label}",
                    NOT_AVAILABLE
                    if found.get("error") == "not available"
                    else f"failed: {found.get('error', 'no result')}",
                )
            )
            continue
        peak, after = found["peak_mb"], found["after_mb"]
        growth = found["second_half_mb"] - found["first_half_mb"]
        held, bound = found.get("max_held"), sum(found["limits"].values())
        within = held is not None and held <= bound + 2000  # + a batch in flight
        back = after <= max(1.0, 0.1 * peak)
        per_event = f", ~{peak * 1024 / held:.1f} KiB each" if held else ""
        rows.append(
            Row(
                "5",
                f"outage memory, {label} ({found['rate']}/s)",
                f"peak +{peak:.1f} MiB for at most {held} held events"
                f"{per_event} (bound {bound:,}); 2nd half {growth:+.1f} MiB vs"
                f" 1st; after recovery {after:+.1f} MiB",
                "",
                "held <= queue + buffer; back to baseline",
                (within and back) if judged else None,
            )
        )
        notes.append(
            f"outage via {label}: sent {found['sent']}, server accepted"
            f" {found['accepted']}, losses {found['losses'] or 'none reported'},"
            f" limits {found['limits'] or 'not reported'}, peak RSS"
            f" {found['peak_rss_mb']:.0f} MiB, baseline heap"
            f" {found['baseline_mb']:.1f} MiB."
        )
    return rows
