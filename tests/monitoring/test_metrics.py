"""Prometheus metrics read from the store a sandbox session filled (layers_tui.metrics)."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import sqlite3
import threading
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from starlette.routing import Match

from layers_tui import paths
from layers_tui.api import ApiError, key_id
from layers_tui.api.client import ENDPOINTS, OTHER_ENDPOINT, endpoint_template
from layers_tui.metrics import (
    ACCOUNT_STATES,
    ExpositionProducer,
    ProjectCache,
    RequestCounter,
    SessionReader,
    open_readonly,
    parse_address,
    read_store,
    registry_for,
    render,
    run_metrics_command,
    scrape_app,
    serve,
    to_metric,
)
from layers_tui.metrics import families as families_of
from layers_tui.session.inventory import ListingFailed, Progress, ProgressUpdated
from layers_tui.session.store import Store, StoredAccount
from tests.conftest import BASE, START
from tests.session import conftest as session_fixtures
from tests.session.conftest import CountingTransport

make_session = session_fixtures.make_session  # the fixture, shared with tests/session

STATUS = "layers_account_status"


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def states_by_account(samples) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in samples:
        result[sample.labels["account"]][sample.labels[STATUS]] = sample.value
    return result


def get(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, str, str | None]:
    """Body, content type and content encoding of a real HTTP GET."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read(), reply.headers["Content-Type"], reply.headers["Content-Encoding"]


async def filled(make_session, **kwargs):
    session = make_session(**kwargs)
    await session.inventory.refresh()
    return session


async def test_the_exposition_parses_and_every_account_has_exactly_one_status(make_session):
    session = await filled(make_session)
    text = render(read_store(session.store, "default")).decode()
    parsed = families(text)
    assert parsed["layers_up"][0].value == 1
    assert parsed["layers_build_info"][0].labels["version"]
    accounts = states_by_account(parsed[STATUS])
    assert len(accounts) == 24
    for states in accounts.values():
        assert sum(states.values()) == 1
        assert set(states) in ({*ACCOUNT_STATES["social"]}, {*ACCOUNT_STATES["ad"]})
    rollup = sum(s.value for s in parsed["layers_accounts"])
    assert rollup == 24
    expiry = parsed["layers_account_token_expiry_timestamp_seconds"]
    assert expiry and all(s.value > START.timestamp() - 86_400 * 365 for s in expiry)
    assert all(s.labels["kind"] == "social" for s in expiry)  # ads carry no expiry
    now = session.clock.now().timestamp()
    assert parsed["layers_last_refresh_success_timestamp_seconds"][0].value == now
    assert len(parsed["layers_project_up"]) == 6


class EveryFamilyAfresh(Collector):
    """The reading's families turned into prometheus-client objects in one go, without the
    per-project objects a cache keeps."""

    def __init__(self, reading) -> None:
        self.reading = reading

    def collect(self):
        return [to_metric(family) for family in families_of(self.reading)]


async def test_the_fast_text_equals_prometheus_clients_own(make_session):
    session = await filled(make_session)
    cache = ProjectCache()
    fast = render(read_store(session.store, "work", cache))
    reference = generate_latest(registry_for(session.store, "work"))
    assert fast == reference
    again = render(read_store(session.store, "work", cache))  # from the cache
    assert again == reference
    afresh = CollectorRegistry(auto_describe=False)
    afresh.register(EveryFamilyAfresh(read_store(session.store, "work")))
    assert generate_latest(afresh) == reference


async def test_a_status_change_shows_in_the_next_scrape(make_session, raw, fake_clock):
    session = await filled(make_session)
    cache = ProjectCache()
    before = families(render(read_store(session.store, "default", cache)).decode())
    target = next(
        s.labels["account"]
        for s in before[STATUS]
        if s.labels[STATUS] == "connected" and s.value == 1 and s.labels["kind"] == "social"
    )
    response = await raw.post(f"/sandbox/social-accounts/{target}/expire-token")
    assert response.status_code < 300
    fake_clock.advance(120)
    await session.inventory.refresh()
    after_text = render(read_store(session.store, "default", cache))
    after = families(after_text.decode())
    assert states_by_account(after[STATUS])[target]["reauth_required"] == 1
    assert states_by_account(after[STATUS])[target]["connected"] == 0
    changed = {
        s.labels["account"]: s.value
        for s in after["layers_account_status_change_timestamp_seconds"]
    }
    assert changed[target] == fake_clock.now().timestamp()
    # The cached scrape is what a fresh reading of the store gives.
    assert after_text == render(read_store(session.store, "default"))


async def test_a_scrape_over_http_makes_no_api_request(make_session, sandbox_app):
    counting = CountingTransport(sandbox_app)
    session = await filled(make_session, transport=counting)
    requests = RequestCounter()
    server = serve("127.0.0.1:0", session, requests)
    try:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        before = dict(counting.paths)
        plain, plain_type, _ = await asyncio.to_thread(get, f"http://{host}:{port}/metrics")
        zipped, _, encoding = await asyncio.to_thread(
            get, f"http://{host}:{port}/metrics", {"Accept-Encoding": "gzip"}
        )
        assert dict(counting.paths) == before
    finally:
        server.close()
    assert plain_type.startswith("text/plain; version=0.0.4")
    parsed = families(plain.decode())
    assert len(states_by_account(parsed[STATUS])) == 24
    assert parsed["layers_up"][0].value == 1
    assert encoding == "gzip" and gzip.decompress(zipped) == plain
    limits = {s.labels["bucket"] for s in parsed["layers_rate_limit_remaining"]}
    assert limits  # the sandbox's rate-limit headers, as the running session saw them


def test_request_counter_keeps_endpoints_low_cardinality():
    counter = RequestCounter()
    counter("GET", "/v1/projects/prj_0b4e8c1a-1111-4222-8333-444455556666/social-accounts", 200)
    counter("GET", "/v1/projects/prj_ffffffff-1111-4222-8333-444455556666/social-accounts", 200)
    counter("GET", "/v1/whoami", None)
    assert counter.counts() == {
        ("/v1/projects/{id}/social-accounts", "GET", "200"): 2,
        ("/v1/whoami", "GET", "error"): 1,
    }


async def test_pass_duration_and_a_failed_listing_come_from_the_running_session(
    make_session, fake_clock
):
    session = await filled(make_session)
    reader = SessionReader(session)
    try:
        reader.on_event(ProgressUpdated(Progress(running=True, done=0, total=6)))
        fake_clock.advance(12.5)
        reader.on_event(ProgressUpdated(Progress(running=False, done=6, total=6)))
        reading = reader.read()
        assert reading.refresh_duration == 12.5 and reading.up
        reader.on_event(ListingFailed(ApiError(401, "UNAUTHENTICATED", "no")))
        parsed = families(render(reader.read()).decode())
        assert parsed["layers_up"][0].value == 0
        assert parsed["layers_refresh_duration_seconds"][0].value == 12.5
    finally:
        reader.close()


def test_api_strings_in_labels_are_sanitised():
    store = Store.memory()
    store.replace_projects([{"id": "prj_\x1b]8;;evil\x07", "name": "x"}], START)
    account = StoredAccount(
        "social", 'sa_"quoted"\\\x1b[31m', "tik\x9btok", "n", "connected", 1, None, False, {}
    )
    store.save_project("prj_\x1b]8;;evil\x07", [account], [], START)
    text = render(read_store(store, "default"))
    assert b"\x1b" not in text and b"\x07" not in text and "\x9b".encode() not in text
    parsed = families(text.decode())
    (sample,) = [s for s in parsed[STATUS] if s.value == 1]
    assert sample.labels["account"] == 'sa_"quoted"\\␛[31m'
    assert sample.labels["project"] == "prj_␛]8;;evil␇"
    assert text == generate_latest(registry_for(store, "default"))


def test_an_unreadable_store_is_up_0_not_an_error(tmp_path):
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not a database" * 100)
    try:
        store = open_readonly(broken)
    except sqlite3.Error:
        pytest.fail("opening is lazy; reading must be what fails")
    reading = read_store(store, "default")
    parsed = families(render(reading).decode())
    assert parsed["layers_up"][0].value == 0
    assert parsed[STATUS] == []


async def test_the_textfile_command_writes_the_stores_metrics(
    make_session, api_key, monkeypatch, tmp_path
):
    monkeypatch.setenv("LAYERS_API_KEY", api_key)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    store_path = paths.store_path(BASE, key_id(api_key))
    target = tmp_path / "textfile" / "layers.prom"
    target.parent.mkdir()
    args = argparse.Namespace(textfile=str(target))
    assert run_metrics_command(args) == 0  # no store yet: written, and says so
    assert families(target.read_text())["layers_up"][0].value == 0
    assert not store_path.exists()  # a scraper never creates the store

    session = await filled(make_session, store_path=store_path)
    await session.aclose()
    assert run_metrics_command(args) == 0
    parsed = families(target.read_text())
    assert parsed["layers_up"][0].value == 1
    assert len(states_by_account(parsed[STATUS])) == 24
    assert [p.name for p in target.parent.iterdir()] == ["layers.prom"]  # no temp left


def test_the_textfile_command_reports_an_unwritable_path(api_key, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", api_key)
    target = tmp_path / "missing-dir" / "layers.prom"
    assert run_metrics_command(argparse.Namespace(textfile=str(target))) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and api_key not in err


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        (":9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
    ],
)
def test_addresses_parse(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["9464", "host:", "host:99999", "host:port"])
def test_bad_addresses_are_refused(address):
    with pytest.raises(ValueError):
        parse_address(address)


def test_an_expiry_in_the_past_is_still_a_timestamp():
    store = Store.memory()
    store.replace_projects([{"id": "prj_a", "name": "a"}], START)
    expired = (START - timedelta(days=1)).timestamp()
    account = StoredAccount("social", "sa_1", "tiktok", "n", "connected", 3, expired, False, {})
    store.save_project("prj_a", [account], [], START)
    parsed = families(render(read_store(store, "p")).decode())
    (sample,) = parsed["layers_account_token_expiry_timestamp_seconds"]
    assert sample.value == expired


def test_one_failing_project_is_its_own_not_the_whole_up():
    store = Store.memory()
    store.replace_projects([{"id": "prj_a", "name": "a"}, {"id": "prj_b", "name": "b"}], START)
    account = StoredAccount("social", "sa_1", "tiktok", "n", "connected", 1, None, False, {})
    for pid in ("prj_a", "prj_b"):
        store.save_project(pid, [account], [], START)
    error = {"status": 404, "code": "NOT_FOUND", "message": "gone", "requestId": "r"}
    store.save_project_error("prj_b", error, START + timedelta(minutes=1))
    parsed = families(render(read_store(store, "p")).decode())
    assert parsed["layers_up"][0].value == 1
    assert {s.labels["project"]: s.value for s in parsed["layers_project_up"]} == {
        "prj_a": 1,
        "prj_b": 0,
    }
    store.save_project_error("prj_a", error, START + timedelta(minutes=2))
    parsed = families(render(read_store(store, "p")).decode())
    assert parsed["layers_up"][0].value == 0


# -- API requests by endpoint (issue 12: what the sandbox saw) -------------------------------
class RouteRecorder:
    """ASGI wrapper of the sandbox: (route template, method, status) of every request, as the
    sandbox's own router matched it (path parameters written `{id}`)."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: Counter[tuple[str, str, str]] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        template = "other"
        for route in self.app.routes:
            if route.matches(scope)[0] == Match.FULL:
                template = re.sub(r"\{[^}]+\}", "{id}", route.path)
                break
        status: dict[str, int] = {}

        async def recording_send(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)
        self.seen[(template, scope["method"], str(status["code"]))] += 1


async def test_requests_by_endpoint_are_what_the_sandbox_saw(make_session, sandbox_app):
    recorder = RouteRecorder(sandbox_app)
    session = make_session(transport=httpx.ASGITransport(app=recorder))
    await session.identify()
    await session.inventory.refresh()
    with pytest.raises(ApiError):
        await session.client.get_project("prj_does-not-exist")
    reader = SessionReader(session)
    try:
        reading = reader.read()
    finally:
        reader.close()
    assert reading.requests == dict(recorder.seen)
    assert ("/v1/projects/{id}", "GET", "400") in reading.requests  # an error is counted too
    parsed = families(render(reading).decode())
    counted = {
        (s.labels["endpoint"], s.labels["method"], s.labels["code"]): s.value
        for s in parsed["layers_api_requests"]
        if s.name == "layers_api_requests_total"
    }
    assert counted == {key: float(n) for key, n in recorder.seen.items()}
    assert not any("prj_" in endpoint for endpoint, _, _ in counted)  # ids never labels
    remaining = {s.labels["bucket"]: s.value for s in parsed["layers_rate_limit_remaining"]}
    assert remaining and remaining == {
        bucket: float(info.remaining)
        for bucket, info in session.client.rate_limits.items()
        if info.remaining is not None
    }


def test_every_sandbox_route_the_client_calls_has_its_own_endpoint_label(sandbox_app):
    hostile = ["whoami", "a%2Fb", "sa_" + "x" * 300, "..", "%E2%80%AE"]
    templates = {re.sub(r"\{[^}]+\}", "{id}", route.path) for route in sandbox_app.routes}
    for template in ENDPOINTS:
        assert template in templates, template  # the contract's route, not a guess
        for ident in hostile:
            assert endpoint_template(template.replace("{id}", ident) + "?cursor=c") == template
    assert endpoint_template("/v1/projects/a/b/c/d/e") == OTHER_ENDPOINT
    assert endpoint_template("/v1/projects//social-accounts") == OTHER_ENDPOINT


# -- the exposition produced off the request path -------------------------------------------
class Ticking:
    """A monotonic clock for the producer; `cost` seconds pass whenever the store is read
    (as if producing took that long)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cost = 0.0

    def __call__(self) -> float:
        return self.now


def counting_reads(reader: SessionReader, ticking: Ticking) -> list[int]:
    reads = [0]
    read = reader.read

    def counted():
        reads[0] += 1
        ticking.now += ticking.cost
        return read()

    reader.read = counted  # type: ignore[method-assign]
    return reads


def scrape(app, environ: dict | None = None) -> tuple[str, dict[str, str], bytes]:
    answer: dict = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": "/metrics", **(environ or {})}, start_response))
    return answer["status"], answer["headers"], body


async def test_a_scrape_sends_the_latest_production_and_reads_nothing(
    make_session, raw, fake_clock
):
    session = await filled(make_session)
    reader = SessionReader(session)
    ticking = Ticking()
    reads = counting_reads(reader, ticking)
    producer = ExpositionProducer(reader, quiet=1, monotonic=ticking, wall=lambda: 1234.5)
    app = scrape_app(producer)
    try:
        assert producer.step() is not None  # the first one at once
        assert producer.step() is None and reads[0] == 1  # nothing changed
        status, headers, body = scrape(app)
        assert status == "200 OK" and headers["Content-Type"].startswith(
            "text/plain; version=0.0.4"
        )
        parsed = families(body.decode())
        assert parsed["layers_metrics_produced_timestamp_seconds"][0].value == 1234.5
        target = next(
            s.labels["account"]
            for s in parsed[STATUS]
            if s.labels[STATUS] == "connected" and s.value == 1 and s.labels["kind"] == "social"
        )
        response = await raw.post(f"/sandbox/social-accounts/{target}/expire-token")
        assert response.status_code < 300
        fake_clock.advance(120)
        await session.inventory.refresh()
        assert scrape(app)[2] == body and reads[0] == 1  # scrapes never read the store
        assert producer.step() is None  # changed, not yet quiet
        ticking.now += 1
        assert producer.step() is not None
        _, _, zipped = scrape(app, {"HTTP_ACCEPT_ENCODING": "gzip"})
        after = families(gzip.decompress(zipped).decode())
        assert states_by_account(after[STATUS])[target]["reauth_required"] == 1
        assert reads[0] == 2
    finally:
        reader.close()


async def test_producing_waits_for_quiet_keeps_to_its_share_and_is_never_late(make_session):
    session = await filled(make_session)
    reader = SessionReader(session)
    ticking = Ticking()
    reads = counting_reads(reader, ticking)
    producer = ExpositionProducer(reader, quiet=1, max_delay=15, busy_share=0.25, monotonic=ticking)
    try:
        ticking.cost = 2.0  # producing takes 2 s: rest 6 s after each (a quarter of a core)
        producer.step()
        assert producer.latest(0).seconds == 2.0
        session.requests("GET", "/v1/whoami", 200)  # something the metrics show changed
        ticking.now += 1
        assert producer.step() is None  # just changed
        ticking.now += 1
        assert producer.step() is None  # quiet, but within the rest after producing
        ticking.now += 4
        ticking.cost = 0.0
        assert producer.step() is not None and reads[0] == 2
        for _ in range(15):  # a change every second: never quiet ...
            session.requests("GET", "/v1/whoami", 200)
            ticking.now += 1
            assert producer.step() is None
        session.requests("GET", "/v1/whoami", 200)
        ticking.now += 1
        assert producer.step() is not None  # ... but shown within max_delay
    finally:
        reader.close()


async def test_the_first_scrape_waits_for_the_first_production(make_session):
    session = await filled(make_session)
    reader = SessionReader(session)
    producer = ExpositionProducer(reader)
    try:
        assert scrape(scrape_app(producer, first_wait=0))[0].startswith("503")
        answer: list = []
        waiting = threading.Thread(target=lambda: answer.append(scrape(scrape_app(producer))))
        waiting.start()
        produced = producer.produce()
        waiting.join(timeout=30)
        assert answer and answer[0][0] == "200 OK" and answer[0][2] == produced.body
    finally:
        reader.close()
