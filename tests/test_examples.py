"""Every program under examples/ runs against the local server and delivers its events.

Each example runs in a subprocess (as a user would run it) with MIXPANEL_TOKEN
and MIXPANEL_API_HOST pointing at a MixpanelServer in this process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import pytest

from otel_mixpanel.testing import MixpanelServer

REPO = Path(__file__).resolve().parent.parent
#: Seconds one example may run.
TIMEOUT = 60


def _environment(server: Optional[MixpanelServer], **extra: str) -> dict[str, str]:
    """This process's environment less MIXPANEL_*/OTEL_*, pointed at ``server``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MIXPANEL_", "OTEL_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    if server is not None:
        env["MIXPANEL_TOKEN"] = str(server.token)
        env["MIXPANEL_API_HOST"] = server.url
    env.update(extra)
    return env


def _run(
    args: list[str], server: Optional[MixpanelServer], **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` from the repository root; fail with its output."""
    process = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=_environment(server, **extra),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return process


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(
    process: subprocess.Popen[str], url: str, user: str, method: str = "GET"
) -> None:
    """Make one request, waiting (up to TIMEOUT) for the server to listen."""
    data = b"" if method == "POST" else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"X-User-Id": user}
    )
    for _ in range(int(TIMEOUT / 0.05)):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            return
        except urllib.error.HTTPError:
            raise
        except OSError:  # not listening yet: wait a little, unless it died
            try:
                process.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the server exited early:\n{output}") from None
    raise AssertionError(f"the server never answered on {url}")


def _stop(process: subprocess.Popen[str], signum: int) -> str:
    """Stop a server gracefully with ``signum`` (killed if it hangs); its output."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the server ignored signal {signum}:\n{output}") from None
    return output


def _properties(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event["properties"] for event in events]


def test_demo_prints_what_the_local_server_received() -> None:
    """Without MIXPANEL_TOKEN the demo runs its own server and prints the tables."""
    output = _run(["-m", "examples.demo"], None).stdout

    assert "Events (" in output
    assert "Profile updates (" in output
    for name in ("Viewed product", "Completed purchase", "Order %s placed"):
        assert name in output
    assert "alice" in output and "$add" in output


def test_demo_sends_to_the_configured_project(mixpanel_server: MixpanelServer) -> None:
    """With MIXPANEL_TOKEN set the demo sends there and never prints the token."""
    output = _run(["-m", "examples.demo"], mixpanel_server).stdout

    events = mixpanel_server.wait_for_events(9, timeout=10)
    names = {event["event"] for event in events}
    assert {"Viewed product", "Added to cart", "Applied coupon"} <= names
    assert {"Completed purchase", "Order %s placed", "Product %s not found"} <= names
    assert len(mixpanel_server.people()) == 3
    assert mixpanel_server.url.split("//")[1] in output
    assert str(mixpanel_server.token) not in output


def test_zero_code_flask_app(mixpanel_server: MixpanelServer, tmp_path: Path) -> None:
    """A Flask app under opentelemetry-instrument sends its marked requests."""
    pytest.importorskip("flask")
    pytest.importorskip("opentelemetry.instrumentation.flask")
    port = _free_port()
    launcher = (
        "import sys; from opentelemetry.instrumentation.auto_instrumentation "
        "import run; sys.argv[0] = 'opentelemetry-instrument'; sys.exit(run())"
    )
    env = _environment(
        mixpanel_server,
        PORT=str(port),
        OTEL_SERVICE_NAME="shop",
        OTEL_TRACES_EXPORTER="mixpanel",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    command = [sys.executable, "-c", launcher, sys.executable]
    process = subprocess.Popen(
        [*command, "-m", "examples.zero_code_app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _request(process, f"{base}/products/1", "user-1")
        _request(process, f"{base}/checkout", "user-1", method="POST")
    finally:
        output = _stop(process, signal.SIGINT)
    assert process.returncode == 0, output

    events = mixpanel_server.wait_for_events(3, timeout=10)
    by_name = {event["event"]: event["properties"] for event in events}
    assert set(by_name) == {
        "Viewed product",
        "Completed purchase",
        "Payment authorised",
    }
    assert by_name["Viewed product"]["distinct_id"] == "user-1"
    assert by_name["Viewed product"]["service.name"] == "shop"
    assert by_name["Completed purchase"]["company"] == "acme"
    (update,) = mixpanel_server.wait_for_people(1, timeout=10)
    assert update["$add"] == {"purchases": 1}


def test_manual_sdk(mixpanel_server: MixpanelServer) -> None:
    """The manual set-up sends the marked span and the marked span event only."""
    _run(["-m", "examples.manual_sdk"], mixpanel_server)

    events = mixpanel_server.wait_for_events(2, timeout=10)
    assert sorted(event["event"] for event in events) == [
        "Charged card",
        "Upgraded plan",
    ]
    assert {props["distinct_id"] for props in _properties(events)} == {"user-7"}
    assert {props["service.name"] for props in _properties(events)} == {"billing"}
    operations = {key for update in mixpanel_server.people() for key in update}
    assert {"$set", "$add"} <= operations


def test_logging_dictconfig(mixpanel_server: MixpanelServer) -> None:
    """Records through the dictConfig-built handler become named events."""
    _run(["-m", "examples.logging_dictconfig"], mixpanel_server)

    events = mixpanel_server.wait_for_events(3, timeout=10)
    names = sorted(event["event"] for event in events)
    assert names == ["Payment failed", "User %s signed up", "User %s signed up"]
    failed = next(e["properties"] for e in events if e["event"] == "Payment failed")
    assert failed["distinct_id"] == "user-1"
    assert failed["company"] == "acme"
    (update,) = mixpanel_server.wait_for_people(1, timeout=10)
    assert update["$add"] == {"failed_payments": 1}


def test_dropin_client(mixpanel_server: MixpanelServer) -> None:
    """The drop-in client with BackgroundConsumer delivers every call by close()."""
    output = _run(["-m", "examples.dropin_client"], mixpanel_server).stdout

    events = mixpanel_server.wait_for_events(2, timeout=10)
    assert [event["event"] for event in events] == ["Signed up", "Invited teammate"]
    assert len(mixpanel_server.wait_for_people(2, timeout=10)) == 2
    (group,) = mixpanel_server.wait_for_groups(1, timeout=10)
    assert group["$group_id"] == "acme"
    assert "lost: nothing" in output


def test_prefork_gunicorn(mixpanel_server: MixpanelServer, tmp_path: Path) -> None:
    """Gunicorn --preload, 2 workers: each request's span and log arrive once."""
    pytest.importorskip("gunicorn")
    port = _free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--preload", "--workers", "2"),
            *("--bind", f"127.0.0.1:{port}", "examples.prefork_app:app"),
        ],
        cwd=REPO,
        # Gunicorn 25+ opens a control socket under XDG_RUNTIME_DIR (else ~).
        env=_environment(mixpanel_server, XDG_RUNTIME_DIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    requests = 8
    url = f"http://127.0.0.1:{port}/page/"
    try:
        _request(process, url + "0", "user-0")  # waits until gunicorn listens
        with ThreadPoolExecutor(4) as pool:  # concurrent, so both workers serve
            futures = [
                pool.submit(_request, process, url + str(number), f"user-{number}")
                for number in range(1, requests)
            ]
            for future in futures:
                future.result()
    finally:
        output = _stop(process, signal.SIGTERM)
    assert process.returncode == 0, output

    events = mixpanel_server.wait_for_events(2 * requests, timeout=10)
    assert len(events) == 2 * requests
    assert len(mixpanel_server.unique_events()) == 2 * requests
    pages = mixpanel_server.events(name="Viewed page")
    paths = sorted(props["url.path"] for props in _properties(pages))
    assert paths == sorted(f"/page/{number}" for number in range(requests))
    assert len(mixpanel_server.events(name="Served %s")) == requests


def test_my_instrumentation_example_passes() -> None:
    """The example test file using the mixpanel_server fixture passes under pytest."""
    process = _run(
        [
            *("-m", "pytest", "-q", "-p", "no:cacheprovider"),
            "examples/test_my_instrumentation.py",
        ],
        None,
    )
    assert "2 passed" in process.stdout


def test_every_example_is_in_the_readme_and_run_here() -> None:
    """Each program under examples/ has a README line and is run by this file."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    this_file = Path(__file__).read_text(encoding="utf-8")
    for path in sorted((REPO / "examples").glob("*.py")):
        if path.name == "__init__.py":
            continue
        assert f"examples/{path.name}" in readme, path.name
        if path.stem != "demo_shop":  # run through examples.demo
            assert path.stem in this_file, path.name
