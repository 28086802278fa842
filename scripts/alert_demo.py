"""Demo: a token expires in the sandbox; watch's metric, alert and history all follow.

Starts a sandbox on loopback, runs `layers-tui watch --metrics` against it (a separate
process, refreshing every 5 s) with a config holding one `command` notify target that
appends each event it gets on stdin to a file, then expires one account's token through the
sandbox control. Within one refresh: the account's `layers_account_status` state flips to
reauth_required, exactly one alert reaches the command, and `layers-tui history` shows the
change. Prints what it saw; exit status 0 when all three happened before the deadline, 1
otherwise.

    python scripts/alert_demo.py [--deadline SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from layers_tui.sandbox import create_app
from layers_tui.sandbox.server import SandboxServer

# A made-up key for the demo's own sandbox, assembled so no key-shaped literal is committed.
KEY = "_".join(("lp", "test", "ALERTDEMO0000001", "alert-demo-secret-not-a-real-key-00000000"))
REFRESH_SECONDS = 5
STATUS_METRIC = "layers_account_status"
EXPIRY_METRIC = "layers_account_token_expiry_timestamp_seconds"

APPEND_STDIN = (
    "import sys; data = sys.stdin.read(); "
    "open(sys.argv[1], 'a', encoding='utf-8').write(data if data.endswith('\\n') else data + '\\n')"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def account_states(metrics_url: str, with_token: bool = False) -> dict[str, str]:
    """account id -> its current status, from watch's /metrics (empty while unreachable);
    `with_token`: only accounts with a token expiry (those the sandbox can expire)."""
    try:
        text = httpx.get(metrics_url, timeout=2).text
    except httpx.HTTPError:
        return {}
    states: dict[str, str] = {}
    expiring: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            account = sample.labels.get("account")
            if family.name == STATUS_METRIC and sample.value == 1 and account:
                states[account] = sample.labels[STATUS_METRIC]
            elif family.name == EXPIRY_METRIC and account:
                expiring[account] = sample.value
    if not with_token:
        return states
    # Latest expiry first: healthy now, so expiring it surely changes its severity.
    latest_first = sorted(expiring, key=expiring.__getitem__, reverse=True)
    return {a: states[a] for a in latest_first if a in states}


def wait_for(what: str, check, deadline: float, every: float = 0.2):
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(what)


def read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=25.0, help="seconds for the whole demo")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline
    work = Path(tempfile.mkdtemp(prefix="layers-alert-demo-"))
    events_file = work / "events.jsonl"
    config = work / "config.toml"
    config.write_text(
        "[[notify]]\n"
        'name = "demo-command"\n'
        'kind = "command"\n'
        f"command = {json.dumps([sys.executable, '-c', APPEND_STDIN, str(events_file)])}\n"
        'min_duration = "0s"\n',
        encoding="utf-8",
    )
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    server = SandboxServer(create_app(api_keys=[KEY], tier="partner")).start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LAYERS_")},
        "LAYERS_API_KEY": KEY,
        "LAYERS_BASE_URL": server.base_url,
        "LAYERS_CONFIG": str(config),
        "LAYERS_REFRESH_INTERVAL": str(REFRESH_SECONDS),
        "LAYERS_CONFIG_DIR": str(work / "config"),
        "LAYERS_STATE_DIR": str(work / "state"),
        "LAYERS_LOG_DIR": str(work / "log"),
    }
    command = [sys.executable, "-m", "layers_tui"]
    watch_out, watch_err = work / "watch.out", work / "watch.err"
    with watch_out.open("w") as out, watch_err.open("w") as err:
        watch = subprocess.Popen(
            [*command, "watch", "--metrics", f"127.0.0.1:{metrics_port}"],
            env=env,
            stdout=out,
            stderr=err,
        )
    ok = False
    try:
        states = wait_for(
            "watch's first refresh (connected accounts in /metrics)",
            lambda: {
                a: s
                for a, s in account_states(metrics_url, with_token=True).items()
                if s == "connected"
            },
            deadline,
        )
        account = next(iter(states))
        print(
            f"watch is up: {len(states)} connected account(s) with a token; "
            f"expiring {account}'s token"
        )
        expired = httpx.post(
            f"{server.base_url}/sandbox/social-accounts/{account}/expire-token",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=5,
        )
        expired.raise_for_status()
        expired_at = time.monotonic()
        status = wait_for(
            "the metric to change",
            lambda: (s := account_states(metrics_url).get(account)) != "connected" and s,
            deadline,
        )
        print(
            f"metric: {STATUS_METRIC}{{account={account!r}}} is now {status!r} "
            f"after {time.monotonic() - expired_at:.1f} s"
        )
        alerts = wait_for(
            "the alert to reach the command target",
            lambda: [e for e in read_events(events_file) if e["account"]["id"] == account],
            deadline,
        )
        print(f"alert: {alerts[0]['type']} to demo-command: {alerts[0]['summary']}")
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))  # a duplicate would show
        alerts = [e for e in read_events(events_file) if e.get("account", {}).get("id") == account]
        history = subprocess.run(
            [*command, "history", "--account", account, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
        )
        changes = json.loads(history.stdout).get("changes", []) if history.stdout else []
        print(
            f"history: {len(changes)} change(s) for {account}: "
            + "; ".join(f"{c.get('oldStatus')} -> {c.get('newStatus')}" for c in changes)
        )
        ok = (
            len(alerts) == 1
            and status == "reauth_required"
            and any(c.get("newStatus") == "reauth_required" for c in changes)
        )
        if len(alerts) != 1:
            print(f"FAIL: {len(alerts)} alert(s) for {account}, expected exactly 1")
        if not ok and history.returncode:
            print(f"history said: {history.stderr.strip()}")
    except (TimeoutError, httpx.HTTPError, ValueError) as error:
        print(f"FAIL: {type(error).__name__}: {error}")
    finally:
        watch.send_signal(signal.SIGTERM)
        try:
            code = watch.wait(10)
        except subprocess.TimeoutExpired:
            watch.kill()
            code = watch.wait()
        server.stop()
        if not ok:
            print(f"watch exited {code}; its stderr:\n{watch_err.read_text()}")
        shutil.rmtree(work, ignore_errors=True)
    print("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
