"""The alert engine: once per transition held past min_duration, quiet for flaps, restarts,
transient errors and quiet hours; a stale organisation once; the rate limit's summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from layers_tui.alerts import (
    AlertEngine,
    AlertPolicy,
    EventContext,
    QuietHours,
    RateLimit,
    parse_duration,
)
from layers_tui.clock import FakeClock
from layers_tui.domain.status import Severity
from layers_tui.notify import dry_run_line
from layers_tui.session.store import Store, StoredAccount

STATUS_SEVERITY = {
    "connected": Severity.OK,
    "reauth_required": Severity.CRITICAL,
    "disconnected": Severity.OFF,
}


def social(key: str, status: str = "connected") -> StoredAccount:
    doc = {"socialAccountId": key, "platform": "instagram", "handle": f"h_{key}", "status": status}
    return StoredAccount(
        "social",
        key,
        "instagram",
        f"h_{key}",
        status,
        int(STATUS_SEVERITY[status]),
        None,
        False,
        doc,
    )


class World:
    """A store with one project the test changes by hand, and a fake clock."""

    def __init__(self, start: datetime | None = None) -> None:
        self.clock = FakeClock(start)
        self.store = Store.memory()
        self.store.replace_projects([{"id": "p1", "name": "Acme"}], self.clock.now())
        self.accounts: dict[str, str] = {}

    def set(self, **statuses: str) -> list:
        """Save the project with these account statuses; returns the history changes."""
        self.accounts.update(statuses)
        return self.store.save_project(
            "p1", [social(k, s) for k, s in self.accounts.items()], [], self.clock.now()
        )

    def later(self, seconds: float) -> None:
        """Time passes; a refresh keeps the data fresh (nothing changes)."""
        self.clock.advance(seconds)
        self.set()

    def engine(self, *policies: AlertPolicy, record: bool = True) -> AlertEngine:
        engine = AlertEngine(
            self.store,
            policies or (AlertPolicy("ops"),),
            self.clock,
            EventContext(profile="acme", host="box", key_id="live-KEYID"),
            record=record,
        )
        engine.start()
        return engine


@pytest.fixture
def world() -> World:
    w = World()
    w.set(a1="connected", a2="connected")
    return w


def test_a_transition_held_past_min_duration_alerts_once(world):
    engine = world.engine()
    engine.observe(world.set(a1="reauth_required"))
    assert engine.poll() == []
    world.clock.advance(299)
    assert engine.poll() == []
    assert 0 < engine.next_poll_in() <= 1
    world.clock.advance(1)
    [alert] = engine.poll()
    assert alert.target == "ops"
    event = alert.event
    assert event["type"] == "account.severity_changed" and event["schemaVersion"] == 1
    assert event["account"] == {
        "id": "a1",
        "kind": "social",
        "platform": "instagram",
        "name": "h_a1",
    }
    assert event["project"] == {"id": "p1", "name": "Acme"}
    assert event["old"] == {"status": "connected", "severity": "ok"}
    assert event["new"] == {"status": "reauth_required", "severity": "critical"}
    assert (event["change"], event["problem"], event["action"]) == (
        "worse",
        "reauth required",
        "reauth",
    )
    assert (event["profile"], event["host"], event["keyId"]) == ("acme", "box", "live-KEYID")
    assert event["since"] == "2026-11-20T12:00:00Z"
    world.later(3600)
    assert engine.poll() == []


def test_a_flap_back_within_min_duration_sends_nothing(world):
    engine = world.engine()
    engine.observe(world.set(a1="reauth_required"))
    world.clock.advance(120)
    engine.observe(world.set(a1="connected"))
    world.later(3600)
    assert engine.poll() == []


def test_a_restart_never_repeats_an_alert_and_keeps_a_pending_one(world):
    engine = world.engine()
    engine.observe(world.set(a1="reauth_required"))
    world.clock.advance(300)
    assert len(engine.poll()) == 1
    engine.observe(world.set(a2="reauth_required"))  # pending when this engine "dies"
    world.clock.advance(60)
    restarted = world.engine()
    assert restarted.poll() == []
    world.clock.advance(240)  # a2's state has now held 300 s
    [alert] = restarted.poll()
    assert alert.event["account"]["id"] == "a2"
    assert alert.event["old"]["status"] == "connected"
    assert world.engine().poll() == []


def test_a_change_while_no_watch_ran_alerts_after_the_restart(world):
    world.engine()
    world.set(a1="reauth_required")  # recorded by `sync` or a dashboard, no engine running
    world.clock.advance(600)
    [alert] = world.engine().poll()
    assert alert.event["new"]["status"] == "reauth_required"


def test_recovery_alerts_once(world):
    engine = world.engine(AlertPolicy("ops", min_duration=0))
    engine.observe(world.set(a1="reauth_required"))
    assert len(engine.poll()) == 1
    world.clock.advance(10)
    engine.observe(world.set(a1="connected"))
    [alert] = engine.poll()
    assert alert.event["change"] == "recovered"
    assert alert.event["new"]["severity"] == "ok" and alert.event["action"] == "none"
    assert engine.poll() == []


def test_accounts_seen_for_the_first_time_are_a_baseline(world):
    engine = world.engine(AlertPolicy("ops", min_duration=0))
    engine.observe(world.set(a3="reauth_required"))  # a new account, already broken
    assert engine.poll() == []
    engine.observe(world.set(a3="connected"))
    [alert] = engine.poll()
    assert alert.event["account"]["id"] == "a3" and alert.event["change"] == "recovered"


def test_min_severity_skips_changes_below_it(world):
    engine = world.engine(AlertPolicy("ops", min_duration=0, min_severity=Severity.CRITICAL))
    engine.observe(world.set(a1="disconnected"))  # ok -> off: nothing an operator fixes
    assert engine.poll() == []
    engine.observe(world.set(a1="reauth_required"))
    assert [a.event["new"]["status"] for a in engine.poll()] == ["reauth_required"]


def test_transient_errors_never_alert_as_account_problems_but_staleness_does_once(world):
    from layers_tui.api import ApiError
    from layers_tui.session.inventory import error_record

    engine = world.engine(AlertPolicy("ops", min_duration=0, stale_after=900))
    for _ in range(14):
        world.clock.advance(60)
        for error in (ApiError(503, "UNAVAILABLE", "down"), ApiError(429, "RATE_LIMITED", "")):
            world.store.save_project_error("p1", error_record(error), world.clock.now())
        assert engine.poll() == []
    world.clock.advance(60)
    [stale] = engine.poll()
    assert stale.event["type"] == "data.stale"
    assert stale.event["lastRefreshAt"] == "2026-11-20T12:00:00Z"
    world.clock.advance(600)
    assert engine.poll() == []
    assert world.engine(AlertPolicy("ops", min_duration=0)).poll() == []  # not after a restart
    world.set(a1="connected")  # a successful refresh, nothing changed
    [fresh] = engine.poll()
    assert fresh.event["type"] == "data.fresh"
    assert engine.poll() == []


def test_quiet_hours_hold_the_net_change_until_they_end():
    world = World(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))
    world.set(a1="connected", a2="connected")
    quiet = QuietHours.parse("22:00-07:00 UTC")
    engine = world.engine(AlertPolicy("ops", min_duration=300, quiet_hours=quiet))
    world.clock.advance(3600)  # 22:00
    engine.observe(world.set(a1="reauth_required", a2="reauth_required"))
    world.clock.advance(3600)
    assert engine.poll() == []
    assert engine.next_poll_in() == 30  # a due alert inside quiet hours is no busy loop
    engine.observe(world.set(a2="connected"))  # a2 recovered overnight: net no change
    world.clock.advance(8 * 3600)  # 07:00
    world.set(a1="reauth_required")  # keeps the data fresh
    alerts = engine.poll()
    assert [a.event["account"]["id"] for a in alerts] == ["a1"]
    assert alerts[0].event["since"] == "2026-11-20T22:00:00Z"


def test_quiet_hours_windows():
    window = QuietHours.parse("22:00-07:00 Europe/Paris")
    assert window.contains(datetime(2026, 11, 20, 21, 30, tzinfo=UTC))  # 22:30 in Paris
    assert window.contains(datetime(2026, 11, 21, 5, 59, tzinfo=UTC))
    assert not window.contains(datetime(2026, 11, 21, 6, 0, tzinfo=UTC))  # 07:00 in Paris
    day = QuietHours.parse("12:00-13:00 UTC")
    assert day.contains(datetime(2026, 11, 21, 12, 30, tzinfo=UTC))
    assert not day.contains(datetime(2026, 11, 21, 13, 0, tzinfo=UTC))
    for bad in ("22-07", "25:00-07:00", "07:00-07:00", "22:00-07:00 Mars/Olympus"):
        with pytest.raises(ValueError):
            QuietHours.parse(bad)


def test_the_rate_limit_sends_the_excess_as_one_summary():
    world = World()
    world.set(**{f"a{i}": "connected" for i in range(5)})
    policy = AlertPolicy("chat", min_duration=0, rate_limit=RateLimit.parse("2/1h"))
    engine = world.engine(policy)
    engine.observe(world.set(**{f"a{i}": "reauth_required" for i in range(5)}))
    first = engine.poll()
    assert [a.event["type"] for a in first] == ["account.severity_changed"] * 2
    world.clock.advance(1800)
    world.set(a0="reauth_required")
    assert engine.poll() == []
    world.later(1799)
    assert engine.poll() == []
    world.later(1)
    [summary] = engine.poll()
    assert summary.event["type"] == "alerts.suppressed" and summary.event["count"] == 3
    assert all("reauth_required" in line for line in summary.event["summaries"])
    assert engine.poll() == []


def test_each_target_has_its_own_policy(world):
    engine = world.engine(AlertPolicy("fast", min_duration=0), AlertPolicy("slow"))
    engine.observe(world.set(a1="reauth_required"))
    assert [a.target for a in engine.poll()] == ["fast"]
    world.clock.advance(300)
    assert [a.target for a in engine.poll()] == ["slow"]


def test_two_engines_on_one_store_send_an_alert_once(world):
    first, second = world.engine(), world.engine()
    changes = world.set(a1="reauth_required")
    first.observe(changes)
    second.observe(changes)
    world.clock.advance(300)
    assert len(first.poll()) + len(second.poll()) == 1


def test_dry_run_records_nothing_and_prints_target_and_summary(world):
    world.engine(AlertPolicy("ops"))  # a watch that sends has run on this store before
    dry = world.engine(AlertPolicy("ops", min_duration=0), record=False)
    changes = world.set(a1="reauth_required")
    dry.observe(changes)
    [alert] = dry.poll()
    assert dry_run_line(alert) == (
        "dry-run: would alert ops: Acme / Instagram h_a1: connected -> reauth_required "
        "(critical): reauth required"
    )
    assert dry.poll() == []
    real = world.engine(AlertPolicy("ops", min_duration=0))
    assert len(real.poll()) == 1  # the dry run did not mark it as sent


def test_untrusted_names_are_made_safe_in_the_summary():
    world = World()
    world.store.replace_projects([{"id": "p1", "name": "Evil\x1b[31m"}], world.clock.now())
    world.set(a1="connected")
    engine = world.engine(AlertPolicy("ops", min_duration=0))
    engine.observe(world.set(a1="reauth_required"))
    [alert] = engine.poll()
    assert "\x1b" not in alert.summary and "\x1b" not in str(alert.event)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0), ("90s", 90), ("5m", 300), ("1h", 3600), ("2d", 172800)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_rate_limit_syntax():
    assert RateLimit.parse("10/1h") == RateLimit(10, 3600)
    for bad in ("10", "0/1h", "ten/1h", "5/0s"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)


def test_a_start_is_a_grace_period_for_old_data_but_never_refreshing_goes_stale():
    world = World()
    world.set(a1="connected")
    world.clock.advance(86_400)  # watch was off for a day: the data is old
    engine = world.engine(AlertPolicy("ops", stale_after=900))
    world.clock.advance(899)
    assert engine.poll() == []  # the first pass has 15 min to refresh it
    world.clock.advance(1)
    [stale] = engine.poll()
    assert stale.event["type"] == "data.stale"
    assert "no successful refresh for 15 min" in stale.summary


def test_the_config_file_text_never_shows_in_a_spec(tmp_path):
    from layers_tui.config import load_settings

    path = tmp_path / "config.toml"
    path.write_text(
        'api_key = "lp_test_KEYID0000000001_topsecretvalue"\n'
        '[[notify]]\nkind = "webhook"\nurl = "https://h.example/t0ken"\n'
        'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
    )
    path.chmod(0o600)
    loaded = load_settings({}, {}, path, None)
    shown = repr(loaded)
    for secret in ("topsecretvalue", "t0ken", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"):
        assert secret not in shown
