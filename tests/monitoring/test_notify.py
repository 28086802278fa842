"""Delivery to [[notify]] targets and their config: a command gets the JSON event on stdin,
the webhook signature verifies with the reference Standard Webhooks package, Apprise is
used through its object (a fake here), and every config mistake names file, line and key."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from layers_tui.alerts import Alert
from layers_tui.clock import FakeClock
from layers_tui.config import ConfigError, load_settings
from layers_tui.notify import CommandTarget, Notifier, webhook_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENT = {
    "schemaVersion": 1,
    "id": "evt_0123",
    "type": "account.severity_changed",
    "summary": "Acme / Instagram h_a1: connected -> reauth_required (critical)",
    "account": {"id": "a1", "name": "Zoë"},
}


def load(tmp_path: Path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)
    return load_settings({}, {}, path, None)


def config_error(tmp_path: Path, body: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    return caught.value


# -- command --------------------------------------------------------------------------------
async def test_a_command_gets_the_event_as_json_on_stdin(tmp_path):
    received = tmp_path / "received.json"
    copy = "import sys; open(sys.argv[1], 'w', encoding='utf-8').write(sys.stdin.read())"
    loaded = load(
        tmp_path,
        f'[[notify]]\nname = "page"\nkind = "command"\n'
        f"command = {json.dumps([sys.executable, '-c', copy, str(received)])}\n",
    )
    notifier = Notifier(loaded.notify)
    assert await notifier.deliver(Alert("page", EVENT)) is None
    assert json.loads(received.read_text(encoding="utf-8")) == EVENT


async def test_a_failing_command_is_reported_not_raised(caplog):
    failing = CommandTarget(
        "page", [sys.executable, "-c", "import sys; sys.stderr.write('no route'); sys.exit(3)"], 5
    )
    notifier = Notifier([])
    notifier.targets["page"] = failing
    with caplog.at_level(logging.WARNING, "layers_tui.notify"):
        problem = await notifier.deliver(Alert("page", EVENT))
    assert problem == "exit status 3: no route"
    assert "exit status 3" in caplog.text


async def test_a_hanging_command_is_killed_at_its_timeout():
    hanging = CommandTarget("page", [sys.executable, "-c", "import time; time.sleep(30)"], 0.3)
    notifier = Notifier([])
    notifier.targets["page"] = hanging
    assert await notifier.deliver(Alert("page", EVENT)) == "timed out after 0.3 s (killed)"


async def test_a_missing_program_is_reported():
    notifier = Notifier([])
    notifier.targets["page"] = CommandTarget("page", ["/nonexistent/pager"], 5)
    problem = await notifier.deliver(Alert("page", EVENT))
    assert problem is not None and problem.startswith("cannot run '/nonexistent/pager'")


# -- webhook ----------------------------------------------------------------------------------
def webhook_config(url: str = "https://hooks.example.com/in?token=abc") -> str:
    return f'[[notify]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\nsecret = "{SECRET}"\n'


async def test_the_webhook_signature_verifies_with_the_reference_implementation(tmp_path):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    clock = FakeClock(datetime.now(UTC))  # the reference checks the timestamp's age
    loaded = load(tmp_path, webhook_config())
    notifier = Notifier(loaded.notify, clock=clock, transport=httpx.MockTransport(answer))
    assert await notifier.deliver(Alert("hook", EVENT)) is None
    await notifier.aclose()
    [request] = seen
    assert str(request.url) == "https://hooks.example.com/in?token=abc"
    headers = dict(request.headers)
    assert headers["webhook-id"] == "evt_0123"
    assert headers["webhook-signature"].startswith("v1,")
    verified = Webhook(SECRET).verify(request.content, headers)
    assert verified == EVENT
    tampered = request.content.replace(b"a1", b"a2")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUE=").verify(request.content, headers)


def test_the_signature_scheme_matches_the_reference_signer():
    stamp = datetime(2026, 12, 1, tzinfo=UTC)
    body = json.dumps(EVENT).encode()
    ours = webhook_signature(SECRET, "evt_0123", int(stamp.timestamp()), body)
    assert ours == Webhook(SECRET).sign("evt_0123", stamp, body.decode())


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (lambda request: httpx.Response(500), "answered HTTP 500"),
        (lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused")), "request failed"),
        (lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow")), "timed out after"),
    ],
)
async def test_webhook_failures_are_reported_without_the_secret_or_url(
    tmp_path, caplog, answer, problem
):
    loaded = load(tmp_path, webhook_config())
    notifier = Notifier(loaded.notify, transport=httpx.MockTransport(answer))
    with caplog.at_level(logging.DEBUG, "layers_tui"):  # httpx logs only warnings (logs.py)
        said = await notifier.deliver(Alert("hook", EVENT))
    await notifier.aclose()
    assert said is not None and said.startswith(problem)
    for secret in (SECRET, "token=abc", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert secret not in said and secret not in caplog.text
    assert "token=abc" not in repr(notifier.targets["hook"])


# -- apprise ----------------------------------------------------------------------------------
class FakeApprise:
    """Stands in for apprise.Apprise: what was added and what was sent."""

    def __init__(self, accept: bool = True, deliver: bool = True) -> None:
        self.accept = accept
        self.deliver = deliver
        self.urls: list[str] = []
        self.sent: list[dict] = []

    def add(self, url: str) -> bool:
        self.urls.append(url)
        return self.accept

    def notify(self, body: str, title: str) -> bool:
        self.sent.append({"body": body, "title": title})
        return self.deliver


APPRISE = '[[notify]]\nname = "chat"\nkind = "apprise"\nurl = "slack://TokenA/TokenB/TokenC"\n'


async def test_an_apprise_target_sends_the_summary(tmp_path):
    fake = FakeApprise()
    notifier = Notifier(load(tmp_path, APPRISE).notify, apprise_factory=lambda: fake)
    assert await notifier.deliver(Alert("chat", EVENT)) is None
    assert fake.urls == ["slack://TokenA/TokenB/TokenC"]
    assert fake.sent == [
        {"body": EVENT["summary"], "title": "layers-tui: account.severity_changed"}
    ]
    failing = Notifier(
        load(tmp_path, APPRISE).notify, apprise_factory=lambda: FakeApprise(deliver=False)
    )
    assert await failing.deliver(Alert("chat", EVENT)) == (
        "Apprise reported the notification as not sent"
    )


def test_without_apprise_installed_the_config_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise -> ImportError
    loaded = load(tmp_path, "# alerts\n" + APPRISE)
    with pytest.raises(ConfigError) as caught:
        Notifier(loaded.notify)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}:4: notify[1].kind: ")
    assert "pip install 'layers-tui[notify]'" in message
    assert "TokenA" not in message


def test_an_url_apprise_does_not_know_is_a_config_error(tmp_path):
    loaded = load(tmp_path, APPRISE)
    with pytest.raises(ConfigError) as caught:
        Notifier(loaded.notify, apprise_factory=lambda: FakeApprise(accept=False))
    assert ":4: notify[1].url: is not a URL Apprise understands" in str(caught.value)
    assert "TokenA" not in str(caught.value)


# -- config -------------------------------------------------------------------------------------
def test_targets_are_read_with_defaults(tmp_path):
    loaded = load(
        tmp_path,
        'refresh_interval = 30\n[[notify]]\nkind = "command"\ncommand = ["true"]\n'
        '[[notify]]\nkind = "webhook"\nurl = "https://h.example/x"\nsecret = "'
        + SECRET
        + '"\nmin_duration = "0s"\nquiet_hours = "22:00-07:00 UTC"\nrate_limit = "5/1h"\n'
        'min_severity = "critical"\nstale_after = "30m"\ntimeout = 3\n',
    )
    first, second = loaded.notify
    assert (first.name, first.target.min_duration, first.target.timeout) == ("command-1", 300, 10)
    assert first.target.min_severity == "warning" and first.target.stale_after == 900
    assert second.name == "webhook-2"
    assert (second.target.min_duration, second.target.stale_after, second.target.timeout) == (
        0,
        1800,
        3,
    )
    assert loaded.settings.refresh_interval == 30


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('[[notify]]\nkind = "pager"\n', ":2: notify[1].kind: "),
        ('[[notify]]\nkind = "command"\n', ":1: notify[1].command: is required"),
        ('[[notify]]\nkind = "command"\ncommand = []\n', ":3: notify[1].command: "),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\ncolour = "red"\n',
            ":4: notify[1].colour: unknown notify setting",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\nurl = "https://a.example"\n',
            ":4: notify[1].url: has no use",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\n\n[[notify]]\nkind = "webhook"\n'
            'url = "https://a.example"\n',
            ":5: notify[2].secret: is required",
        ),
        (
            '[[notify]]\nkind = "webhook"\nurl = "https://a.example"\nsecret = "hunter2"\n',
            ":4: notify[1].secret: must be whsec_",
        ),
        (
            '[[notify]]\nkind = "webhook"\nurl = "ftp://a.example"\nsecret = "' + SECRET + '"\n',
            ":3: notify[1].url: must be an http(s) URL",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\nmin_duration = "soon"\n',
            ":4: notify[1].min_duration: is not a duration",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\nquiet_hours = "night"\n',
            ":4: notify[1].quiet_hours: is not a window",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\nrate_limit = "lots"\n',
            ":4: notify[1].rate_limit: is not a limit",
        ),
        (
            '[[notify]]\nkind = "command"\ncommand = ["x"]\nmin_severity = "meh"\n',
            ":4: notify[1].min_severity: ",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "command"\ncommand = ["x"]\n'
            '[[notify]]\nname = "a"\nkind = "command"\ncommand = ["y"]\n',
            ":6: notify[2].name: two [[notify]] targets are named 'a'",
        ),
        ('notify = "everyone"\n', ":1: notify: must be [[notify]] tables"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path, body, where):
    error = config_error(tmp_path, body)
    assert str(error).startswith(str(tmp_path / "config.toml") + where), str(error)
    assert "hunter2" not in str(error)


def test_dry_run_without_targets_is_a_clear_config_error(tmp_path, monkeypatch, capsys):
    from layers_tui.cli import main

    path = tmp_path / "config.toml"
    path.write_text("refresh_interval = 30\n", encoding="utf-8")
    monkeypatch.setenv("LAYERS_API_KEY", "lp_test_KEYID0000000001_secretsecretsecret")
    assert main(["watch", "--dry-run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "notify: --dry-run: there are no [[notify]] targets" in err
    assert "secretsecretsecret" not in err
