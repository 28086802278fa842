"""`layers-tui watch`'s lines about its role (refreshing, following, taking over) and its
passes, and its change lines (the same as `layers-tui history`'s): the in-process sandbox,
the fake clock, two sessions on one store standing in for two processes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

from layers_tui.history_cli import history_output
from layers_tui.session.inventory import Progress, ProgressUpdated, StatusChanged
from layers_tui.session.store import Change
from layers_tui.watch import (
    RoleReporter,
    change_line,
    describe_duration,
    describe_holder,
    pass_line,
    pass_start_line,
    process_program,
    program_name,
    run_watch,
)
from tests.session.conftest import CountingTransport

PREFIX = "layers-tui watch: "


def lines(err: io.StringIO) -> list[str]:
    return err.getvalue().splitlines()


def reporter_for(session, err: io.StringIO) -> RoleReporter:
    """A reporter that names every local process `layers-tui` and hears the passes."""
    role = RoleReporter(session, err, program_of=lambda pid: "layers-tui")
    session.inventory.listeners.append(
        lambda event: (
            role.on_progress(event.progress) if isinstance(event, ProgressUpdated) else None
        )
    )
    return role


# -- role ----------------------------------------------------------------------------------
def test_a_free_lease_makes_it_the_refresher_said_once(make_session):
    session = make_session()
    err = io.StringIO()
    role = reporter_for(session, err)
    assert session.inventory.take_lease()
    role.observe()
    role.observe()
    assert lines(err) == [PREFIX + "refreshing (this process holds the refresh lease)"]


def test_it_follows_the_dashboard_then_takes_over_when_it_goes(make_session, tmp_path):
    path = tmp_path / "shared.sqlite3"
    dashboard, watcher = make_session(store_path=path), make_session(store_path=path)
    err = io.StringIO()
    role = reporter_for(watcher, err)
    assert dashboard.inventory.take_lease()
    assert not watcher.inventory.take_lease()
    role.observe()
    role.observe()  # no news: no line
    pid = os.getpid()  # both "processes" are this one
    assert lines(err) == [PREFIX + f"following pid {pid} (layers-tui) which refreshes"]

    dashboard.inventory.release()  # the dashboard quits
    role.observe()  # the lease is free this instant: nothing to say yet
    assert len(lines(err)) == 1
    assert watcher.inventory.take_lease()
    role.observe()
    role.observe()
    assert lines(err)[1:] == [PREFIX + f"took over refreshing from pid {pid} (layers-tui)"]

    watcher.inventory.release()  # and hands it back: it follows again
    assert dashboard.inventory.take_lease()
    watcher.inventory.take_lease()
    role.observe()
    assert lines(err)[2:] == [PREFIX + f"following pid {pid} (layers-tui) which refreshes"]


def test_a_holder_elsewhere_is_named_by_its_host_not_a_local_program():
    assert describe_holder("far-host", 7, None) == "pid 7 on far-host"
    here = socket.gethostname()
    assert describe_holder(here, 7, "layers-tui watch") == "pid 7 (layers-tui watch)"
    assert describe_holder("bad\x1b[2Jhost", 7, None) == "pid 7 on bad␛[2Jhost"


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["/usr/bin/python3", "-m", "layers_tui", "watch"], "layers-tui watch"),
        (["/usr/bin/python3", "-X", "dev", "-m", "layers_tui", "--demo"], "layers-tui --demo"),
        (["/home/u/.venv/bin/layers-tui", ""], "layers-tui"),
        (["/usr/bin/python3", "-m", "pytest", "-q"], "python3 -m pytest -q"),
        (
            ["layers-tui", "--api-key", "lp_live_AbC123_s3cr3t"],
            "layers-tui --api-key lp_live_AbC123_…",
        ),
        (["layers-tui", "\x1b]0;owned\x07"], "layers-tui ␛]0;owned␇"),
        ([], "?"),
    ],
)
def test_program_names_read_as_a_user_typed_them(argv, name):
    assert program_name(argv) == name


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_the_program_of_a_local_process_comes_from_its_command_line():
    argv = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().decode().split("\0")
    assert process_program(os.getpid()) == program_name(argv)
    assert program_name(argv).startswith(Path(sys.executable).name[:6])  # "python…"
    assert process_program(2**22 + 12345) is None  # above Linux's pid_max: no such process


# -- passes --------------------------------------------------------------------------------
async def test_one_line_per_full_pass_with_its_counts_time_and_next(make_session):
    session = make_session()
    err = io.StringIO()
    reporter_for(session, err)
    assert session.inventory.take_lease()
    started = session.clock.monotonic()
    result = await session.inventory.refresh(relist=True)
    took = session.clock.monotonic() - started
    assert len(result.refreshed) == 6 and not result.failed
    next_in = describe_duration(session.inventory.next_pass_in())
    assert lines(err) == [
        PREFIX + "refreshing (this process holds the refresh lease)",
        PREFIX + f"pass done: 6 projects refreshed, 0 failed, in {describe_duration(took)}; "
        f"next in {next_in}",
    ]
    # A single project asked for is not a pass: no line.
    await session.inventory.refresh_project(result.refreshed[0])
    assert len(lines(err)) == 2


class FailingOneProject(CountingTransport):
    """The sandbox, except that one project's social accounts cannot be read."""

    def __init__(self, app, project_id: str) -> None:
        super().__init__(app)
        self.project_id = project_id

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/v1/projects/{self.project_id}/social-accounts":
            return httpx.Response(
                404, json={"error": {"code": "NOT_FOUND", "message": "no such project"}}
            )
        return await super().handle_async_request(request)


async def test_a_pass_with_a_failure_counts_it(make_session, sandbox_app, tmp_path):
    path = tmp_path / "store.sqlite3"
    first = make_session(store_path=path)
    await first.inventory.list_projects()
    broken = first.inventory.projects[2].id
    session = make_session(store_path=path, transport=FailingOneProject(sandbox_app, broken))
    err = io.StringIO()
    reporter_for(session, err)
    assert session.inventory.take_lease()
    result = await session.inventory.refresh(relist=True)
    assert result.failed == [broken]
    [done] = [line for line in lines(err) if "pass" in line]
    assert done.startswith(PREFIX + "pass done: 5 projects refreshed, 1 failed, in ")


def test_pass_lines_in_words():
    finished = Progress(running=False, done=1, total=1, failed=0, fresh=5)
    assert pass_line(finished, 75.0, 60.0) == (
        "pass done: 1 project refreshed, 0 failed (5 still fresh), in 1 min; next in 1 min"
    )
    stopped = Progress(running=False, done=120, total=2000, failed=2)
    assert pass_line(stopped, 300.0, 60.0) == (
        "pass stopped after 120 of 2000 due: 118 projects refreshed, 2 failed, in 5 min"
    )
    nothing_due = Progress(running=False, done=0, total=0, fresh=6)
    assert pass_line(nothing_due, None, 45.0) == (
        "pass done: 0 projects refreshed, 0 failed (6 still fresh), in 0 s; next in 45 s"
    )
    long = Progress(running=True, done=0, total=2000, eta_seconds=1320.0)
    assert pass_start_line(long) == "pass started: 2000 projects due, about 22 min"


def test_a_long_pass_says_when_it_starts_a_short_one_does_not(make_session):
    session = make_session()
    err = io.StringIO()
    role = reporter_for(session, err)
    assert session.inventory.take_lease()
    role.on_progress(Progress(running=True, done=0, total=6, eta_seconds=3.0))
    role.on_progress(Progress(running=True, done=3, total=6, eta_seconds=1.0))
    assert lines(err) == [PREFIX + "refreshing (this process holds the refresh lease)"]
    role.on_progress(Progress(running=False, done=6, total=6))
    role.on_progress(Progress(running=True, done=0, total=2000, eta_seconds=1320.0))
    role.on_progress(Progress(running=True, done=1, total=2000, eta_seconds=1319.0))
    assert lines(err)[2:] == [PREFIX + "pass started: 2000 projects due, about 22 min"]


# -- run_watch as a whole --------------------------------------------------------------------
async def test_watch_says_it_refreshes_then_one_line_for_its_first_pass(make_session):
    session = make_session()
    out, err = io.StringIO(), io.StringIO()
    first_pass = asyncio.Event()
    session.inventory.listeners.append(
        lambda e: (
            first_pass.set()
            if isinstance(e, ProgressUpdated) and not e.progress.running and e.progress.done
            else None
        )
    )
    task = asyncio.ensure_future(run_watch(session, out, err))
    try:
        await asyncio.wait_for(first_pass.wait(), 20)  # a guard, not a wait: fake clock
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    said = lines(err)
    assert said[0].startswith(PREFIX + "Demo Agency (standard tier); store ")
    assert said[1] == PREFIX + "refreshing (this process holds the refresh lease)"
    assert said[2].startswith(PREFIX + "pass done: 6 projects refreshed, 0 failed, in ")
    assert not any("project " in line and "pass" not in line for line in said[1:])


async def test_watch_behind_a_dashboard_says_whom_it_follows(make_session, tmp_path):
    path = tmp_path / "shared.sqlite3"
    dashboard, watcher = make_session(store_path=path), make_session(store_path=path)
    assert dashboard.inventory.take_lease()
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.ensure_future(run_watch(watcher, out, err))
    try:
        for _ in range(200):  # event-loop turns, no time: the first look is at once
            if len(lines(err)) >= 2:
                break
            await asyncio.sleep(0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    program = process_program(os.getpid())
    named = f"pid {os.getpid()}" + (f" ({program})" if program else "")
    assert lines(err)[1:] == [PREFIX + f"following {named} which refreshes"]
    assert out.getvalue() == ""


# -- change lines ------------------------------------------------------------------------------
async def test_a_change_line_is_the_history_line(make_session, raw):
    session = make_session()
    assert session.inventory.take_lease()
    await session.inventory.refresh(relist=True)
    target = next(
        doc["socialAccountId"]
        for record in session.store.projects()
        for kind, doc in session.store.accounts(record.id)
        if kind == "social" and doc["status"] == "connected" and doc.get("tokenExpiresAt")
    )
    assert (await raw.post(f"/sandbox/social-accounts/{target}/expire-token")).status_code < 300
    seen: list[Change] = []
    session.inventory.listeners.append(
        lambda e: seen.extend(e.changes) if isinstance(e, StatusChanged) else None
    )
    await session.inventory.refresh(relist=True)
    [change] = [c for c in seen if c.account_key == target]
    names = {project.id: project.name for project in session.inventory.projects}
    watched = change_line(change, names[change.project_id])
    history = history_output(session.store, session.clock.now(), account=target)
    assert history.code == 0 and history.text.splitlines()[0] == watched
    platform_and_name = f" / {change.name} [{target}]: connected -> reauth_required (critical)"
    assert platform_and_name in watched
