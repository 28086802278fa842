"""Delivery to [[notify]] targets and their config: a command gets the JSON event on stdin,
the webhook signature verifies with the reference Standard Webhooks package, Apprise is
used through its object (a fake here), and every config mistake names file, line and key.
Failures that may pass are retried on a fake sleep (nothing here waits in real time)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from layers_tui.alerts import Alert
from layers_tui.clock import FakeClock
from layers_tui.config import ConfigError, load_settings
from layers_tui.notify import CommandTarget, DeliveryError, Notifier, RetryPolicy, webhook_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENT = {
    "schemaVersion": 1,
    "id": "evt_0123",
    "type": "account.severity_changed",
    "summary": "Acme / Instagram h_a1: connected -> reauth_required (critical)",
    "account": {"id": "a1", "name": "Zoë"},
}


class FakeSleep:
    """Records each wait and moves the fake clock by it, at once."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


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
    sleep = FakeSleep()
    notifier = Notifier([], sleep=sleep)
    notifier.targets["page"] = failing
    with caplog.at_level(logging.WARNING, "layers_tui.notify"):
        problem = await notifier.deliver(Alert("page", EVENT))
    assert problem == "lost after 3 attempts: exit status 3: no route"
    assert sleep.waits == [10, 60]
    assert caplog.text.count("exit status 3") == 3
    assert "page (evt_0123) lost after 3 attempts" in caplog.text


async def test_a_hanging_command_is_killed_at_its_timeout():
    hanging = CommandTarget("page", [sys.executable, "-c", "import time; time.sleep(30)"], 0.3)
    sleep = FakeSleep()
    notifier = Notifier([], retry=RetryPolicy(delays=(5,)), sleep=sleep)
    notifier.targets["page"] = hanging
    problem = await notifier.deliver(Alert("page", EVENT))
    assert problem == "lost after 2 attempts: timed out after 0.3 s (killed)"
    assert sleep.waits == [5]  # a timeout is retried


async def test_a_missing_program_is_reported():
    sleep = FakeSleep()
    notifier = Notifier([], sleep=sleep)
    notifier.targets["page"] = CommandTarget("page", ["/nonexistent/pager"], 5)
    problem = await notifier.deliver(Alert("page", EVENT))
    assert problem is not None
    assert problem.startswith("lost (not retried): cannot run '/nonexistent/pager'")
    assert sleep.waits == []  # it will not appear by waiting


async def test_a_command_that_fails_twice_is_delivered_on_the_third_attempt(tmp_path):
    tries, received = tmp_path / "tries", tmp_path / "received.json"
    script = (
        "import pathlib, sys; tries = pathlib.Path(sys.argv[1]); "
        "n = int(tries.read_text()) + 1 if tries.exists() else 1; tries.write_text(str(n)); "
        "data = sys.stdin.read(); n < 3 and sys.exit(75); "
        "pathlib.Path(sys.argv[2]).write_text(data)"
    )
    sleep = FakeSleep()
    notifier = Notifier([], sleep=sleep)
    notifier.targets["page"] = CommandTarget(
        "page", [sys.executable, "-c", script, str(tries), str(received)], 10
    )
    assert await notifier.deliver(Alert("page", EVENT)) is None
    assert tries.read_text() == "3" and sleep.waits == [10, 60]
    assert json.loads(received.read_text()) == EVENT


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
    notifier = Notifier(loaded.notify, transport=httpx.MockTransport(answer), sleep=FakeSleep())
    with caplog.at_level(logging.DEBUG, "layers_tui"):  # httpx logs only warnings (logs.py)
        said = await notifier.deliver(Alert("hook", EVENT))
    await notifier.aclose()
    assert said is not None and said.startswith("lost after 3 attempts: " + problem)
    for secret in (SECRET, "token=abc", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert secret not in said and secret not in caplog.text
    assert "token=abc" not in repr(notifier.targets["hook"])


# -- retries -----------------------------------------------------------------------------------
class Receiver:
    """A webhook endpoint answering from a script: each item a status (with headers) or an
    exception to raise; what it was sent."""

    def __init__(self, *script: int | tuple[int, dict[str, str]] | Exception) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 204
        if isinstance(step, Exception):
            raise step
        status, headers = step if isinstance(step, tuple) else (step, {})
        return httpx.Response(status, headers=headers)


async def send_webhook(tmp_path, receiver: Receiver, clock: FakeClock | None = None):
    clock = clock or FakeClock(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    sleep = FakeSleep(clock)
    notifier = Notifier(
        load(tmp_path, webhook_config()).notify,
        clock=clock,
        transport=httpx.MockTransport(receiver),
        sleep=sleep,
    )
    said = await notifier.deliver(Alert("hook", EVENT))
    await notifier.aclose()
    return said, sleep.waits


async def test_a_webhook_is_retried_after_a_5xx_and_a_network_error_with_the_same_id(tmp_path):
    receiver = Receiver(503, httpx.ConnectError("refused"), 200)
    said, waits = await send_webhook(tmp_path, receiver)
    assert said is None and waits == [10, 60]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["evt_0123"] * 3
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps[1] - stamps[0] == 10 and stamps[2] - stamps[1] == 60  # signed anew each time
    last = receiver.requests[-1]
    signature = webhook_signature(SECRET, "evt_0123", stamps[2], last.content)
    assert last.headers["webhook-signature"] == signature


@pytest.mark.parametrize(
    ("retry_after", "waits"),
    [
        ("120", [120]),  # longer than the backoff: the receiver's word
        ("3", [10]),  # shorter: never sooner than the backoff either
        ("garbage", [10]),  # unusable: the backoff
        (None, [10]),
    ],
)
async def test_a_429_honours_retry_after(tmp_path, retry_after, waits):
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    receiver = Receiver((429, headers), 204)
    said, slept = await send_webhook(tmp_path, receiver)
    assert said is None and slept == waits and len(receiver.requests) == 2


async def test_a_429_retry_after_as_an_http_date_is_read_on_the_injected_clock(tmp_path):
    clock = FakeClock(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    when = format_datetime(clock.now() + timedelta(seconds=90), usegmt=True)
    receiver = Receiver((429, {"retry-after": when}), 204)
    said, slept = await send_webhook(tmp_path, receiver, clock)
    assert said is None and slept == [90]


async def test_a_retry_after_beyond_the_cap_loses_the_alert_at_once(tmp_path, caplog):
    receiver = Receiver((429, {"retry-after": "3600"}))
    with caplog.at_level(logging.WARNING, "layers_tui.notify"):
        said, slept = await send_webhook(tmp_path, receiver)
    assert said == "lost (Retry-After over 300 s): answered HTTP 429, Retry-After 3600 s"
    assert slept == [] and len(receiver.requests) == 1
    assert "hook (evt_0123) lost" in caplog.text


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_a_4xx_is_not_retried(tmp_path, status):
    receiver = Receiver(status)
    said, slept = await send_webhook(tmp_path, receiver)
    assert said == f"lost (not retried): answered HTTP {status}"
    assert slept == [] and len(receiver.requests) == 1


async def test_408_and_every_5xx_are_retried_until_the_last_attempt(tmp_path, caplog):
    receiver = Receiver(408, 502, 500, 204)
    with caplog.at_level(logging.WARNING, "layers_tui.notify"):
        said, slept = await send_webhook(tmp_path, receiver)
    assert said == "lost after 3 attempts: answered HTTP 500"
    assert slept == [10, 60] and len(receiver.requests) == 3  # bounded: the 204 never asked
    assert "attempt 1 of 3" in caplog.text and "attempt 2 of 3" in caplog.text
    assert "token=abc" not in caplog.text


async def test_a_target_waiting_to_retry_holds_up_no_other_target():
    gate, waiting = asyncio.Event(), asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        waiting.set()
        await gate.wait()

    class Flaky:
        name = "flaky"
        calls = 0

        async def send(self, event: dict) -> None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise DeliveryError("exit status 1")

    class Fine:
        name = "fine"
        sent: list[dict] = []

        async def send(self, event: dict) -> None:
            Fine.sent.append(event)

    notifier = Notifier([], sleep=held_sleep)
    notifier.targets.update(flaky=Flaky(), fine=Fine())
    flaky = asyncio.ensure_future(notifier.deliver(Alert("flaky", EVENT)))
    await waiting.wait()
    assert await notifier.deliver(Alert("fine", EVENT)) is None  # while flaky waits
    assert Fine.sent == [EVENT] and not flaky.done()
    gate.set()
    assert await flaky is None and Flaky.calls == 2


async def test_stopping_while_waiting_to_retry_logs_the_lost_alert(caplog):
    async def forever(seconds: float) -> None:
        await asyncio.Event().wait()

    class Down:
        name = "down"

        async def send(self, event: dict) -> None:
            raise DeliveryError("answered HTTP 503")

    notifier = Notifier([], sleep=forever)
    notifier.targets["down"] = Down()
    with caplog.at_level(logging.WARNING, "layers_tui.notify"):
        task = asyncio.ensure_future(notifier.deliver(Alert("down", EVENT)))
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "down lost: stopped while waiting to try again (evt_0123)" in caplog.text


async def test_a_target_bug_is_not_retried():
    class Buggy:
        name = "buggy"
        calls = 0

        async def send(self, event: dict) -> None:
            Buggy.calls += 1
            raise KeyError("summary")

    sleep = FakeSleep()
    notifier = Notifier([], sleep=sleep)
    notifier.targets["buggy"] = Buggy()
    assert await notifier.deliver(Alert("buggy", EVENT)) == "lost (not retried): failed (KeyError)"
    assert Buggy.calls == 1 and sleep.waits == []


def test_the_default_policy_is_three_attempts_now_10s_60s():
    policy = RetryPolicy()
    assert policy.attempts == 3
    error = DeliveryError("x")
    assert [policy.wait_before(n, error) for n in (1, 2, 3)] == [10, 60, None]
    assert policy.wait_before(1, DeliveryError("x", retryable=False)) is None
    assert policy.wait_before(2, DeliveryError("x", retry_after=300)) == 300
    assert policy.wait_before(2, DeliveryError("x", retry_after=301)) is None


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
    refusing = FakeApprise(deliver=False)
    failing = Notifier(
        load(tmp_path, APPRISE).notify, apprise_factory=lambda: refusing, sleep=FakeSleep()
    )
    assert await failing.deliver(Alert("chat", EVENT)) == (
        "lost after 3 attempts: Apprise reported the notification as not sent"
    )
    assert len(refusing.sent) == 3


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
