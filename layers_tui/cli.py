"""Command line: the dashboard (default), --demo, sandbox, connect, reauth, check, sync, watch,
metrics, history, journal, doctor."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from layers_tui import __version__, paths
from layers_tui.config import ConfigError, LoadedSettings, Settings, load_settings
from layers_tui.text import emit, quiet

if TYPE_CHECKING:
    from datetime import datetime

    import httpx

    from layers_tui.clock import Clock

PLATFORMS = ("tiktok", "instagram", "meta_ads", "tiktok_ads", "apple_ads")
log = logging.getLogger("layers_tui.cli")

# Kept here, not in check.py, so `--help` does not import the whole headless core.
CHECK_EPILOG = (
    "Fresh data: check reads the local store that the dashboard, `sync` and `watch` keep. "
    "Projects whose data is older than --max-age are refreshed within the request budget "
    "(never causing a 429) and --timeout; when another layers-tui (watch, a dashboard) holds "
    "the refresh lease, check asks it for the most urgent due projects, as many as the "
    "request budget refreshes within --timeout, and waits only when that is all of them "
    "(otherwise it reports at once; the holder refreshes them next). The output names the "
    "holder (pid, program) and suggests `watch` only when nobody refreshes. "
    "A --max-age shorter than one pass over every project at the key's request budget "
    "(2,000 projects at 120 req/min: about 40 min) cannot be met by anyone, so data that "
    "old still counts as fresh, and the output says so. "
    "With a fresh store check makes no list requests (one whoami). Projects not refreshed "
    "in time count as stale; the output says how many and how old their data is. "
    "Stale rule: the exit code comes from fresh data; it is UNKNOWN (3) when a problem worse "
    "than that is seen only in stale data, or when a project has no data at all, unless "
    "fresh data is already CRITICAL. Stale data showing no problem leaves the code as it is. "
    "A project whose last refresh failed is CRITICAL. "
    "Thresholds: -w and -c are Monitoring Plugins ranges on the seconds until a connected "
    "token expires (-w 604800: -c 86400: warns below 7 days, is critical below one day); "
    "perfdata follows the first line after '|' (counts without a unit, min_expiry in s)."
)


class _UsageError(Exception):
    """A bad command line, raised instead of argparse's exit so `check` can answer UNKNOWN."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's hook for every bad argument
        raise _UsageError(self, message)


def _common() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand's unset option from overwriting the same global option.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="config file (default: %(default)s)".replace(
            "%(default)s", str(paths.default_config_file())
        ),
    )
    common.add_argument(
        "--profile",
        default=argparse.SUPPRESS,
        help="use [profiles.NAME] from the config file (env LAYERS_PROFILE)",
    )
    common.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run against an embedded sandbox with demo data; needs no key",
    )
    common.add_argument(
        "--reset-demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="with --demo: start the demo world over (it is kept between runs, so a flow "
        "left pending resumes)",
    )
    common.add_argument(
        "--base-url", default=argparse.SUPPRESS, help="API base URL (env LAYERS_BASE_URL)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="layers-tui",
        parents=[common],
        description="Terminal dashboard for the Layers Partner API: every project's social "
        "and ad accounts, live; connect and reconnect with a QR code.",
        epilog="Without a command the dashboard opens. The API key comes from LAYERS_API_KEY "
        "or api_key in the config file; it is never printed.",
    )
    parser.add_argument("--version", action="version", version=f"layers-tui {__version__}")
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="disable every action that changes anything",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        metavar="SECONDS",
        default=None,
        help="background refresh interval (default 60, minimum 5)",
    )
    parser.add_argument(
        "--theme", default=None, help="Textual theme, e.g. textual-light (`--theme list`: all)"
    )
    parser.add_argument(
        "--desktop-notify",
        choices=("off", "bell", "osc9", "osc777", "auto"),
        default=None,
        help="on a status change also notify the desktop: terminal bell, OSC 9 or OSC 777, "
        "or auto (picked from TERM_PROGRAM/TERM); default off (env LAYERS_DESKTOP_NOTIFY)",
    )
    parser.add_argument(
        "--filter", default="", help="start with this filter, e.g. 'status:reauth platform:tiktok'"
    )
    parser.add_argument("--problems", action="store_true", help="start in problems-only view")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    # No `common` parent: the dashboard's options (--demo, --profile, --base-url...) do not
    # apply to the server, so its --help lists only its own.
    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Partner API emulator on loopback",
        description="Serve the sandbox emulator of the Partner API.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    sandbox.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any)")
    sandbox.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY[:SCOPES]",
        help="accept this key (repeatable); KEY:social:read,social:write gives it only those "
        "scopes (default *); default: a new demo lp_test_ key",
    )
    sandbox.add_argument(
        "--allow-return-host",
        action="append",
        default=[],
        metavar="HOST",
        help="return URL host allowed for every key (default localhost)",
    )
    sandbox.add_argument(
        "--db",
        default=":memory:",
        metavar="PATH",
        help="SQLite file to keep data across restarts (default in memory)",
    )
    sandbox.add_argument("--seed", type=int, default=0, help="seed for the demo data")
    sandbox.add_argument("--empty", action="store_true", help="start with no projects")
    sandbox.add_argument(
        "--projects",
        type=int,
        default=None,
        metavar="N",
        help="generate N projects instead of the curated demo data",
    )
    sandbox.add_argument("--accounts-per-project", type=int, default=20, metavar="M")
    sandbox.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    sandbox.add_argument(
        "--tier",
        choices=("standard", "pilot", "partner"),
        default="standard",
        help="rate-limit tier of the keys (default standard, where most partners start)",
    )
    sandbox.add_argument(
        "--webhook-url",
        metavar="URL",
        help="deliver social_account.connected here (https, or http to localhost)",
    )
    sandbox.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        help="signing secret for X-Layers-Signature (needed with --webhook-url)",
    )
    sandbox.add_argument(
        "--log-requests",
        action="store_true",
        help="print one line per request: method, path, status, ms, request id",
    )

    connect = commands.add_parser(
        "connect",
        parents=[common],
        help="open the app on a connect flow",
        description="Mint a connect link and follow it to the end.",
        epilog="PROJECT is a project id (proj_..., from the dashboard's project list, "
        "`layers-tui check --json` or the Layers dashboard) or its name, whole or a part "
        "that matches one project, as `check --project` takes it. A project that does not "
        "exist, or a name matching several, fails here with one line (exit 2).",
    )
    connect.add_argument("project_id", metavar="PROJECT", help="project id or name")
    connect.add_argument(
        "platform", choices=PLATFORMS, metavar="PLATFORM", help=", ".join(PLATFORMS)
    )
    reauth = commands.add_parser(
        "reauth",
        parents=[common],
        help="open the app on a reconnect flow",
        description="Mint a reconnect link for a social account or an ad account.",
        epilog="ACCOUNT_ID is a social account id or an ad account id: the ID column of the "
        "dashboard (y copies it, enter shows it in the details) or `layers-tui check "
        "--json`. An unknown, disconnected or leased account fails here with one line "
        "(exit 2).",
    )
    reauth.add_argument("social_account_id", metavar="ACCOUNT_ID", help="social or ad account id")

    check = commands.add_parser(
        "check",
        parents=[common],
        help="health check for scripts and monitoring",
        description="Check every account once. Exit 0 OK, 1 WARNING, 2 CRITICAL (also when "
        "the API is unreachable or the key is rejected), 3 UNKNOWN (bad flags or config, a "
        "selection that matches nothing, stale data only (see below), an internal error). "
        "--json prints one JSON object for every outcome.",
        epilog=CHECK_EPILOG,
    )
    check.add_argument("--json", action="store_true", help="JSON output (schemaVersion 1)")
    check.add_argument("--project", help="only this project (id or part of the name)")
    check.add_argument("--platform", choices=PLATFORMS)
    check.add_argument("--kind", choices=("social", "ad"))
    check.add_argument(
        "-w",
        "--warning",
        default=None,
        metavar="RANGE",
        help="WARNING when the seconds until a token expires fall outside RANGE (Monitoring "
        "Plugins syntax: 10, 10:, ~:10, 10:20, @10:20 for inside); default from config: "
        "604800: (7 days)",
    )
    check.add_argument(
        "-c",
        "--critical",
        default=None,
        metavar="RANGE",
        help="CRITICAL likewise (default 86400:, one day); an expired token, a reauth and "
        "a dead ad token are CRITICAL whatever the ranges",
    )
    check.add_argument(
        "--warn-within",
        default=None,
        metavar="DURATION",
        help="the same as -w SECONDS: written as a duration, e.g. 7d",
    )
    check.add_argument(
        "--crit-within",
        default=None,
        metavar="DURATION",
        help="the same as -c SECONDS: written as a duration, e.g. 24h",
    )
    check.add_argument(
        "--max-age",
        default="10m",
        metavar="DURATION",
        help="refresh projects whose stored data is older than this (default 10m; 0 "
        "refreshes every project)",
    )
    check.add_argument(
        "--timeout",
        default="20s",
        metavar="DURATION",
        help="time limit for refreshing (default 20s); what does not fit is reported stale",
    )

    commands.add_parser(
        "sync",
        parents=[common],
        help="refresh the local store once (for cron)",
        description="Make one full pass over the organisation within the request budget and "
        "write it to the local store that check and the dashboard read. Progress on stderr. "
        "Exit 0 when every project refreshed, 1 when some failed (named in the summary), 2 "
        "when the API or the config could not be used. When another layers-tui (watch, a "
        "dashboard) is already refreshing this key, sync leaves it to that one and exits 0.",
    )
    watch = commands.add_parser(
        "watch",
        parents=[common],
        help="keep the local store fresh, headless, and log status changes",
        description="Run without a screen and keep the local store fresh for as long as it "
        "runs, within the request budget (one refresher per key: a second watch or a "
        "dashboard follows the first). Prints one line per account status change on stdout "
        "(accounts seen for the first time are not logged); problems on stderr. Ctrl+C (or "
        "SIGTERM) stops it cleanly with exit 0; a rejected key or a bad config exits 2. "
        "Alerts on account state changes go to the config's [[notify]] targets.",
    )
    watch.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        default=None,
        help="also serve Prometheus /metrics here, e.g. 127.0.0.1:9464 (read from the local "
        "store: a scrape never calls the Layers API)",
    )
    watch.add_argument(
        "--dry-run",
        action="store_true",
        help="print the alerts the config's [[notify]] targets would get (target and "
        "summary) instead of sending them; nothing is recorded as sent",
    )
    metrics = commands.add_parser(
        "metrics",
        parents=[common],
        help="write Prometheus metrics for node_exporter's textfile collector",
        description="Write the metrics `watch --metrics` serves, read from the local store "
        "(never the API), to PATH atomically. Exit 0 when written, 2 on a config or write "
        "error.",
    )
    metrics.add_argument(
        "--textfile", required=True, metavar="PATH", help="file to write (should end in .prom)"
    )

    from layers_tui.history_cli import add_arguments as add_history_arguments

    add_history_arguments(commands, common)

    commands.add_parser(
        "doctor",
        parents=[common],
        help="show config, paths, key (masked) and what the flows can use",
        description="Explain the setup and check the key with whoami.",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> int:
    """Run a command. `transport` and `clock` are for tests (the in-process sandbox, a fake
    clock) and reach the headless commands' session."""
    try:
        return _main(argv, transport=transport, clock=clock)
    except BrokenPipeError:  # `layers-tui ... | head`: the reader is gone, not our failure
        quiet(sys.stdout)
        return 141  # as a shell reports SIGPIPE


def _main(
    argv: Sequence[str] | None,
    *,
    transport: httpx.AsyncBaseTransport | None,
    clock: Clock | None,
) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except _UsageError as error:
        if _is_check(error, arguments):
            return check_usage_error(error.message, arguments)
        argparse.ArgumentParser.error(error.parser, error.message)  # usage, then exit 2
    command = args.command
    if command == "check":
        return run_check_command(args, transport=transport, clock=clock)
    try:
        if command == "sandbox":
            return run_sandbox(args)
        if command == "metrics":
            from layers_tui.metrics import run_metrics_command

            return run_metrics_command(args)
        with _environment(args) as loaded:
            if command == "doctor":
                return run_doctor(loaded)
            if command in ("history", "journal"):
                from layers_tui.history_cli import run as run_history

                _require_key(loaded.settings)
                return run_history(args, loaded.settings, sys.stdout, sys.stderr, clock)
            if command in ("sync", "watch"):
                return run_headless(
                    command,
                    loaded,
                    transport=transport,
                    clock=clock,
                    metrics=getattr(args, "metrics", None),
                    dry_run=getattr(args, "dry_run", False),
                )
            return run_dashboard(args, loaded, transport, clock)
    except ConfigError as error:
        print(f"layers-tui: config error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _is_check(error: _UsageError, arguments: list[str]) -> bool:
    """Whether a command line that did not parse was meant for `check`."""
    if error.parser.prog.endswith(" check"):
        return True
    try:
        known, _ = build_parser().parse_known_args(arguments)
    except _UsageError:
        return "check" in arguments
    return getattr(known, "command", None) == "check"


def start_demo_sandbox(reset: bool = False) -> Any:
    """The demo's sandbox: its world lives in the state dir and it listens on the port it
    had last time when free, so links and flows left pending survive a restart."""
    from layers_tui.sandbox import create_app
    from layers_tui.sandbox.server import SandboxServer

    directory = paths.demo_dir()
    if reset:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    app = create_app(db_path=str(directory / "sandbox.sqlite"))
    world = app.state.sandbox.world
    previous = world.meta("demo_port")
    port = int(previous) if previous and _port_free(int(previous)) else 0
    server = SandboxServer(app, port=port).start()
    world.set_meta("demo_port", str(server.port))
    return server


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        # As uvicorn binds: a port in TIME_WAIT from our own last run is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _environment:
    """Load settings; with --demo, start the embedded sandbox first and point at it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server: Any = None

    def __enter__(self) -> LoadedSettings:
        args = self.args
        flags: dict[str, Any] = {
            "profile": getattr(args, "profile", None),
            "base_url": getattr(args, "base_url", None),
            "read_only": getattr(args, "read_only", None),
            "refresh_interval": getattr(args, "refresh", None),
            "theme": getattr(args, "theme", None),
            "desktop_notify": getattr(args, "desktop_notify", None),
        }
        if getattr(args, "demo", False):
            self.server = start_demo_sandbox(reset=getattr(args, "reset_demo", False))
            port = self.server.port
            flags.update(
                api_key=self.server.app.state.sandbox.demo_key,
                base_url=self.server.base_url,
                demo=True,
                return_url=f"http://localhost:{port}/sandbox/return",
                ads_redirect_url=f"http://localhost:{port}/sandbox/return",
            )
            # The demo never reads the user's config or environment: nothing to configure.
            return load_settings(flags, {}, None, None)
        return load_settings(
            flags, os.environ, getattr(args, "config", None), paths.default_config_file()
        )

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.stop()


def _require_key(settings: Settings) -> None:
    if settings.api_key is None:
        raise ConfigError(
            "no API key: set LAYERS_API_KEY, or api_key in "
            f"{paths.default_config_file()} (chmod 600), or try `layers-tui --demo`",
            key="api_key",
        )


def run_sandbox(args: argparse.Namespace) -> int:
    from layers_tui.sandbox import create_app

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: binding {args.host}: the sandbox is reachable from other machines",
            file=sys.stderr,
        )
    try:
        app = create_app(
            api_keys=args.api_key or None,
            allowed_hosts=args.allow_return_host or None,
            tier=args.tier,
            seed=None if args.empty else args.seed,
            projects=args.projects,
            accounts_per_project=args.accounts_per_project,
            db_path=args.db,
            latency_ms=args.latency_ms,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            log_requests=_print_line if args.log_requests else None,
        )
    except ValueError as error:
        print(f"layers-tui sandbox: {error}", file=sys.stderr)
        return 2
    try:
        listener = _listen(args.host, args.port)
    except OSError as error:
        print(
            f"layers-tui sandbox: cannot listen on {args.host}:{args.port}: "
            f"{error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    port = listener.getsockname()[1]  # --port 0: the one the system chose
    sandbox = app.state.sandbox
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Layers sandbox on http://{host}:{port}", flush=True)
    if sandbox.demo_key:
        # Even the emulator's own key is never printed: it goes to a file only you can read.
        from layers_tui.api import mask_key

        key_file = paths.state_dir() / f"sandbox-{port}.key"
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(sandbox.demo_key + "\n")
        print(f"Demo API key {mask_key(sandbox.demo_key)} written to {key_file}", flush=True)
        print(
            f"Try: LAYERS_BASE_URL=http://{host}:{port} "
            f'LAYERS_API_KEY="$(cat {shlex.quote(str(key_file))})" '
            f"LAYERS_RETURN_URL=http://localhost:{port}/sandbox/return {_self_command()}",
            flush=True,
        )
    if sandbox.webhooks is not None:
        print(f"Webhooks: social_account.connected -> {sandbox.webhooks.url}", flush=True)
    serve_sandbox(app, listener)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The sandbox's listening socket, bound before anything is printed: a port in use is
    one clear line, and with port 0 the Try line names the port the system chose."""
    family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError:
        listener.close()
        raise
    return listener


def serve_sandbox(app: Any, listener: socket.socket) -> None:
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


def _print_line(line: str) -> None:
    print(line, flush=True)


def _self_command() -> str:
    """This layers-tui as a shell command that works where `layers-tui` is not on PATH: the
    running script by its absolute path, else this interpreter with `-m layers_tui`."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name.startswith("layers-tui") and script.is_file():
        return shlex.quote(os.path.abspath(script))
    return f"{shlex.quote(sys.executable)} -m layers_tui"


def check_usage_error(message: str, arguments: list[str]) -> int:
    """Bad `check` arguments: UNKNOWN (3), one line or one JSON object, never argparse's 2."""
    from layers_tui.check import json_requested, unknown

    result = unknown(f"bad arguments: {message} (see layers-tui check --help)", "USAGE")
    print(result.render(json_requested(arguments)))
    return result.code


def run_check_command(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> int:
    """Run `check` and print its one outcome; every failure becomes a Nagios status."""
    from layers_tui.check import internal_error
    from layers_tui.logs import close_logging, setup_logging

    log_file = setup_logging(paths.log_dir())
    try:
        result = _check_result(args, transport, clock)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # any surprise is UNKNOWN with one line, never a traceback
        result = internal_error(error)
    finally:
        close_logging(log_file)
    emit(sys.stdout, result.render(bool(args.json)) + "\n")
    return result.code


def _check_result(
    args: argparse.Namespace,
    transport: httpx.AsyncBaseTransport | None,
    clock: Clock | None,
) -> Any:
    from layers_tui.check import (
        CheckScope,
        ExpiryRanges,
        Freshness,
        check_session,
        parse_seconds,
        unknown,
    )
    from layers_tui.session.session import open_session

    try:
        with _environment(args) as loaded:
            settings = loaded.settings
            _require_key(settings)
            try:
                ranges = ExpiryRanges(
                    _range(
                        args.warning, args.warn_within, "-w", settings.expiry_warn_days * 86_400
                    ),
                    _range(
                        args.critical, args.crit_within, "-c", settings.expiry_crit_hours * 3600
                    ),
                )
                freshness = Freshness(parse_seconds(args.max_age), parse_seconds(args.timeout))
            except ValueError as error:
                return unknown(f"bad arguments: {error}", "USAGE")
            scope = CheckScope(args.project, args.platform, args.kind)

            async def go() -> Any:
                session = open_session(settings, clock=clock, transport=transport)
                if session.store_problem:
                    log.warning("check: %s", session.store_problem)
                try:
                    return await check_session(session, ranges, scope, freshness, bool(args.json))
                finally:
                    await session.aclose()

            return asyncio.run(go())
    except ConfigError as error:
        return unknown(f"config error: {error}", "CONFIG")


def _range(given: str | None, within: str | None, flag: str, default: float) -> Any:
    """One of check's expiry ranges: `-w/-c RANGE`, or its `--*-within DURATION` alias
    (`N:`), or the config's threshold (`N:`). Raises ValueError for both at once."""
    from layers_tui.check import Range, parse_duration, parse_range

    if given is not None and within is not None:
        alias = "--warn-within" if flag == "-w" else "--crit-within"
        raise ValueError(f"{flag} and {alias} say the same thing: give one of them")
    if given is not None:
        return parse_range(given)
    return Range(parse_duration(within) if within is not None else default)


def run_headless(
    command: str,
    loaded: LoadedSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    metrics: str | None = None,
    dry_run: bool = False,
) -> int:
    """`sync` or `watch`: one line for what stops them (config, key, store, a metrics
    address that cannot be bound), never a traceback; an unexpected error is logged with its
    redacted traceback. `metrics`: HOST:PORT for watch's /metrics endpoint; `dry_run`: print
    watch's alerts instead of sending them."""
    from layers_tui.logs import close_logging, redact, setup_logging
    from layers_tui.session.session import open_session
    from layers_tui.watch import run_sync, run_watch

    settings = loaded.settings
    _require_key(settings)
    notifier = None
    if command == "watch" and (loaded.notify or dry_run):
        if not loaded.notify:
            raise ConfigError(
                "--dry-run: there are no [[notify]] targets to try (see config.example.toml)",
                loaded.config_file,
                key="notify",
            )
        from layers_tui.notify import Notifier

        notifier = Notifier(loaded.notify, clock=clock)  # a missing apprise: ConfigError
    log_file = setup_logging(paths.log_dir())

    async def go() -> int:
        session = open_session(settings, clock=clock, transport=transport)
        if session.store_problem:
            print(f"layers-tui {command}: {session.store_problem}", file=sys.stderr)
        server = None
        try:
            if command == "sync":
                return await run_sync(session, sys.stderr)
            if metrics is not None:
                from layers_tui.metrics import serve

                try:
                    server = serve(metrics, session)
                except (OSError, ValueError) as error:
                    reason = getattr(error, "strerror", None) or error
                    print(f"layers-tui watch: --metrics {metrics}: {reason}", file=sys.stderr)
                    return 2
                host, port = server.address
                print(f"layers-tui watch: metrics on http://{host}:{port}/metrics", file=sys.stderr)
            return await run_watch(session, sys.stdout, sys.stderr, notifier, dry_run)
        finally:
            if server is not None:
                server.close()
            await session.aclose()

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:  # before watch's own handler is in place, or during sync
        return 0 if command == "watch" else 130
    except Exception as error:
        import traceback

        log.error("%s failed: %s", command, redact("".join(traceback.format_exception(error))))
        print(
            f"layers-tui {command}: internal error: {type(error).__name__} (details in the "
            "log file)",
            file=sys.stderr,
        )
        return 2
    finally:
        close_logging(log_file)


def run_doctor(loaded: LoadedSettings) -> int:
    from layers_tui.api import LayersClient, format_error, key_env, key_id, mask_key
    from layers_tui.probes import browser_probe, clipboard_probe, qr_fit_probe

    settings = loaded.settings
    size = shutil.get_terminal_size((0, 0))
    print(f"layers-tui {__version__}")
    config_file = loaded.config_file or f"(none; would read {paths.default_config_file()})"
    print(f"{'config file:':<18}{config_file}")
    print(f"{'state dir:':<18}{paths.state_dir()}")
    store = paths.store_path(settings.base_url, key_id(settings.api_key), settings.demo)
    print(f"{'local store:':<18}{store} (projects, accounts, history, pending flows)")
    print(f"{'log dir:':<18}{paths.log_dir()}")
    print(f"{'profile:':<18}{settings.profile or '(none)'}")
    env = key_env(settings.api_key)
    print(
        f"{'api key:':<18}{mask_key(settings.api_key)}"
        + (f" ({env.upper()} key)" if env else "")
        + (f"  [from {loaded.sources['api_key']}]" if "api_key" in loaded.sources else "")
    )
    for name in (
        "base_url",
        "return_url",
        "ads_redirect_url",
        "refresh_interval",
        "read_only",
        "theme",
        "desktop_notify",
    ):
        value = getattr(settings, name)
        print(f"{name + ':':<18}{value}  [{loaded.sources.get(name, 'default')}]")
    checks = [
        ("browser", browser_probe()),
        ("clipboard", clipboard_probe()),
        ("qr code", qr_fit_probe(size.columns, size.lines, sys.stdout.isatty())),
    ]
    for label, probe in checks:
        print(f"{label + ':':<18}{'ok' if probe.ok else 'no'} - {probe.detail}")
    if settings.return_url is None:
        print(f"{'return url:':<18}not set - connect flows will ask for LAYERS_RETURN_URL")
    if settings.api_key is None:
        print(f"{'whoami:':<18}skipped - no API key")
        return 1

    async def whoami() -> str:
        assert settings.api_key is not None
        async with LayersClient(settings.base_url, settings.api_key) as client:
            me = await client.whoami()
            return (
                f"ok - {me.organization_name} ({me.organization_id}), tier "
                f"{me.rate_limit_tier}, scopes {', '.join(me.scopes) or '(unscoped)'}"
            )

    try:
        print(f"{'whoami:':<18}{asyncio.run(whoami())}")
    except Exception as error:  # report any failure as one line, never a traceback
        from layers_tui.api import ApiError

        text = format_error(error) if isinstance(error, ApiError) else type(error).__name__
        print(f"{'whoami:':<18}failed - {text}")
        return 1
    return 0


def key_origin(loaded: LoadedSettings) -> str:
    """Where the API key came from, in words: "LAYERS_API_KEY (environment)", "the config
    file PATH, profile NAME", "--demo"; for the message a rejected key gets."""
    source = loaded.sources.get("api_key", "")
    settings = loaded.settings
    if settings.demo:
        return "--demo (the embedded sandbox)"
    if source.startswith("env "):
        return f"{source[4:]} (environment)"
    if source.startswith("file "):
        profile = f", profile {settings.profile}" if settings.profile else ""
        return f"the config file {source[5:]}{profile}"
    return source or "the configuration"


def theme_problem(theme: str) -> str | None:
    """Why `theme` cannot be used (one line naming the valid ones), or None."""
    from textual.theme import BUILTIN_THEMES

    if theme in BUILTIN_THEMES:
        return None
    return f"unknown theme {theme!r}; valid themes: {', '.join(sorted(BUILTIN_THEMES))}"


def resolve_targets(
    args: argparse.Namespace,
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """`connect`/`reauth`: what they name, found before the app opens (raises TargetError)."""
    from layers_tui.api import LayersClient
    from layers_tui.clock import SystemClock
    from layers_tui.flows.budget import RequestBudget
    from layers_tui.targets import TargetError, check_reauthable, find_account, find_project

    clock = clock or SystemClock()
    assert settings.api_key is not None

    async def find() -> dict[str, Any]:
        async with LayersClient(
            settings.base_url, settings.api_key, transport=transport, clock=clock
        ) as client:
            if args.command == "connect":
                return {"connect_to": (await find_project(client, args.project_id), args.platform)}
            known, fresh = _store_knowledge(settings, args.social_account_id, clock.now())
            target = await find_account(
                client,
                args.social_account_id,
                clock.now(),
                known_project=known,
                progress=lambda line: print(f"layers-tui reauth: {line}", file=sys.stderr),
                fresh_without_it=fresh,
                # The standard tier's pace: other users of the key (a dashboard, watch)
                # must not meet a 429 because of this search.
                budget=RequestBudget(clock),
            )
            return {"reauth_target": check_reauthable(target)}

    try:
        return asyncio.run(find())
    except KeyboardInterrupt:
        raise TargetError("stopped before the account was found") from None


FRESH_LISTS_SECONDS = 600.0  # check's default --max-age


def _store_knowledge(
    settings: Settings, account_id: str, now: datetime
) -> tuple[str | None, set[str]]:
    """What the local store knows for finding `account_id`: the project it last saw it in,
    and the projects whose lists it read within `FRESH_LISTS_SECONDS` (without it, unless
    in the first): nothing when there is no store or it cannot be read."""
    from layers_tui.api import key_id
    from layers_tui.session.store import Store

    path = paths.store_path(settings.base_url, key_id(settings.api_key), settings.demo)
    if not path.exists():
        return None, set()
    try:
        store = Store.open(path)
    except Exception:  # the store is a shortcut only; the API answers without it
        return None, set()
    try:
        found = store.first_accounts("key = ?", [account_id.strip()], limit=1)
        known = found[0][0] if found else None
        since = now.timestamp() - FRESH_LISTS_SECONDS
        fresh = {
            project_id
            for project_id, refreshed_at, _, failed, _ in store.project_states()
            if refreshed_at is not None and refreshed_at >= since and project_id != known
        }
    except Exception:
        return None, set()
    finally:
        store.close()
    return known, fresh


def run_dashboard(
    args: argparse.Namespace,
    loaded: LoadedSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> int:
    settings = loaded.settings
    if settings.theme == "list":
        from textual.theme import BUILTIN_THEMES

        print("\n".join(sorted(BUILTIN_THEMES)))
        return 0
    problem = theme_problem(settings.theme)  # before the key: says what it can without one
    if problem:
        print(f"layers-tui: {problem}", file=sys.stderr)
        return 2
    _require_key(settings)
    targets: dict[str, Any] = {}
    if args.command in ("connect", "reauth"):
        from layers_tui.targets import TargetError

        try:
            targets = resolve_targets(args, settings, transport, clock)
        except TargetError as error:
            print(f"layers-tui {args.command}: {error}", file=sys.stderr)
            return 2
    from layers_tui.ui.launch import launch

    initial: dict[str, Any] = {
        "filter": getattr(args, "filter", ""),
        "problems": getattr(args, "problems", False),
        "key_origin": key_origin(loaded),
    } | targets
    return launch(settings, initial)
