"""`layers-tui sandbox`: its own options, a Try line that works off PATH, clear option errors."""

from __future__ import annotations

import shlex
import socket
import sys

import pytest
import uvicorn

from layers_tui import cli
from layers_tui.sandbox.state import make_demo_key


@pytest.fixture
def served(monkeypatch) -> list[dict]:
    """Serving replaced: what would have been served, on which port (the socket is bound,
    then closed)."""
    calls: list[dict] = []

    def serve(app, listener) -> None:
        calls.append({"app": app, "port": listener.getsockname()[1]})
        listener.close()

    monkeypatch.setattr(cli, "serve_sandbox", serve)
    return calls


def test_port_0_prints_the_port_the_system_chose(served, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert cli.main(["sandbox", "--port", "0"]) == 0
    port = served[0]["port"]
    assert port > 0
    out = capsys.readouterr().out
    assert f"Layers sandbox on http://127.0.0.1:{port}" in out
    try_line = next(line for line in out.splitlines() if line.startswith("Try: "))
    assert f"LAYERS_BASE_URL=http://127.0.0.1:{port} " in try_line
    assert f"sandbox-{port}.key" in try_line and ":0" not in try_line


def test_a_port_in_use_is_one_line_and_exit_2(served, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["sandbox", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"layers-tui sandbox: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in err and served == []


def test_the_real_server_answers_on_the_chosen_socket():
    """A socket from `_listen` serves the API through uvicorn as `serve_sandbox` runs it (in
    a thread here, stopped after one request)."""
    import threading

    import httpx

    from layers_tui.sandbox import create_app

    app = create_app(projects=1)
    listener = cli._listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.01)
        response = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", timeout=5)
        assert response.status_code == 401  # no key: the API's own answer, over the socket
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()


def test_sandbox_help_lists_only_server_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sandbox", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for own in ("--port", "--api-key", "--tier", "--webhook-url", "--webhook-secret"):
        assert own in text
    assert "--log-requests" in text and "default standard" in text
    for foreign in ("--demo", "--profile", "--base-url", "--config", "--reset-demo"):
        assert foreign not in text


def test_try_line_runs_this_interpreter_when_not_started_as_the_script(served, capsys):
    assert cli.main(["sandbox", "--port", "8799"]) == 0
    out = capsys.readouterr().out
    try_line = next(line for line in out.splitlines() if line.startswith("Try: "))
    assert try_line.endswith(f" {shlex.quote(sys.executable)} -m layers_tui")
    assert served and served[0]["app"].state.sandbox.world.keys
    key = served[0]["app"].state.sandbox.demo_key
    assert key not in out
    whoami_tier = next(iter(served[0]["app"].state.sandbox.world.keys.values())).tier
    assert whoami_tier == "standard"


def test_try_line_names_the_running_script_by_absolute_path(served, capsys, tmp_path, monkeypatch):
    script = tmp_path / "venv dir" / "bin" / "layers-tui"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["venv dir/bin/layers-tui", "sandbox"])
    assert cli.main(["sandbox", "--port", "8799"]) == 0
    try_line = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("Try: ")
    )
    assert try_line.endswith(" " + shlex.quote(str(script)))


def test_scoped_keys_webhooks_and_request_log_reach_the_app(served, capsys):
    key = make_demo_key()
    code = cli.main(
        [
            "sandbox",
            "--api-key",
            f"{key}:social:read,projects:read",
            "--webhook-url",
            "http://localhost:9/hook",
            "--webhook-secret",
            "whsec_cli-test",
            "--log-requests",
        ]
    )
    assert code == 0
    sandbox = served[0]["app"].state.sandbox
    assert sandbox.world.keys[key].scopes == ["social:read", "projects:read"]
    assert sandbox.webhooks.url == "http://localhost:9/hook"
    out = capsys.readouterr().out
    assert "Webhooks: social_account.connected -> http://localhost:9/hook" in out
    assert "whsec_cli-test" not in out and key not in out
    assert any(m.cls.__name__ == "RequestLog" for m in served[0]["app"].user_middleware)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--api-key", "KEY_PLACEHOLDER:social:wirte"], "unknown scope 'social:wirte'"),
        (["--webhook-url", "https://hooks.example/x"], "needs --webhook-secret"),
        (["--webhook-url", "http://hooks.example/x", "--webhook-secret", "s"], "https"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(served, capsys, arguments, message):
    key = make_demo_key()
    arguments = [a.replace("KEY_PLACEHOLDER", key) for a in arguments]
    assert cli.main(["sandbox", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layers-tui sandbox: ") and message in err
    assert "Traceback" not in err and key not in err
    assert served == []
