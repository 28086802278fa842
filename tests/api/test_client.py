"""LayersClient against the in-process sandbox: every endpoint, error mapping, retries."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from layers_tui.api import ApiError, InvalidResponseError, LayersClient, mask_key
from layers_tui.api.errors import format_error
from layers_tui.domain.status import social_row
from tests.conftest import BASE, RETURN_URL


class Counter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []

    def __call__(self, method: str, path: str, status: int | None) -> None:
        self.calls.append((method, path, status))


def counted_client(app, key, clock) -> tuple[LayersClient, Counter]:
    counter = Counter()
    client = LayersClient(
        BASE,
        key,
        transport=httpx.ASGITransport(app=app),
        clock=clock,
        jitter=lambda low, high: high,
        observer=counter,
    )
    return client, counter


async def project_named(client: LayersClient, name: str):
    projects = []
    async for page in client.iter_projects(limit=2):
        projects.extend(page.items)
    return next(p for p in projects if p.name == name)


async def test_every_read_endpoint(client):
    me = await client.whoami()
    assert me.organization_name == "Demo Agency" and me.rate_limit_tier == "standard"
    pages = [page async for page in client.iter_projects(limit=2)]
    assert len(pages) == 3 and sum(len(p.items) for p in pages) == 6
    acme = await project_named(client, "Acme Coffee Roasters")
    assert (await client.get_project(acme.id)).customer_external_id == "cus_acme_001"
    social = await client.all_social_accounts(acme.id)
    assert {a.handle for a in social.items} == {"acmecoffee", "acme.coffee.co", "acme_baristas"}
    assert all(a.connected_at.tzinfo is not None for a in social.items)
    health = await client.social_health(social.items[0].social_account_id)
    assert health.tier and health.recommendation
    ads = await client.list_ad_accounts(acme.id, ["meta_ads"])
    assert [a.token_status for a in ads.items] == ["valid"]
    assert client.rate_limits["read-light"].limit == 120


async def test_social_paging_follows_cursors(client):
    northwind = await project_named(client, "Northwind Fitness")
    first = await client.list_social_accounts(northwind.id, limit=1)
    assert first.next_cursor is not None
    merged = await client.all_social_accounts(northwind.id)
    assert len(merged.items) == 4


async def test_write_endpoints_and_flow(client, raw):
    acme = await project_named(client, "Acme Coffee Roasters")
    link = await client.social_oauth_url(acme.id, "instagram", RETURN_URL)
    assert link.state.startswith("st_") and link.expires_at is not None
    assert (await client.oauth_status(link.state)).status == "pending"
    await raw.post(f"/sandbox/consent/{link.state}", data={"decision": "approve"})
    done = await client.oauth_status(link.state)
    assert done.status == "completed" and done.platform == "instagram"
    broken = next(
        a
        for a in (await client.all_social_accounts(acme.id)).items
        if a.status == "reauth_required"
    )
    relink = await client.social_reauth_url(acme.id, broken.social_account_id, RETURN_URL)
    await raw.post(f"/sandbox/consent/{relink.state}", data={"decision": "deny"})
    failed = await client.oauth_status(relink.state)
    assert failed.status == "failed" and failed.error.code == "platform_denied"
    revoked = await client.revoke_social_account(broken.social_account_id)
    assert revoked.canceled_scheduled_posts == 4
    ad_link = await client.ads_oauth_url(acme.id, "meta_ads", RETURN_URL)
    assert "/sandbox/consent/st_" in ad_link.authorize_url and ad_link.platform == "meta_ads"
    project = await client.create_project("Fern Bakery", "UTC")
    assert project.name == "Fern Bakery"


@pytest.mark.parametrize(
    ("call", "code", "status"),
    [
        (lambda c: c.get_project("prj_00000000-0000-4000-8000-000000000000"), "NOT_FOUND", 404),
        (lambda c: c.revoke_social_account("sa_bad"), "VALIDATION", 400),
        (
            lambda c: c.social_oauth_url(
                "prj_00000000-0000-4000-8000-000000000000", "tiktok", RETURN_URL
            ),
            "NOT_FOUND",
            404,
        ),
        (
            lambda c: c.list_social_accounts("prj_00000000-0000-4000-8000-000000000000"),
            "NOT_FOUND",
            404,
        ),
        (lambda c: c.create_project("x", "UTC"), "VALIDATION", 422),
        (lambda c: c.oauth_status("st_nope"), "NOT_FOUND", 404),
    ],
)
async def test_final_errors_are_typed_and_sent_once(
    sandbox_app, api_key, fake_clock, call, code, status
):
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await call(client)
    assert caught.value.code == code and caught.value.status == status
    assert caught.value.request_id.startswith("req_")
    assert len(counter.calls) == 1
    assert fake_clock.sleeps == []
    assert code in format_error(caught.value) and caught.value.request_id in format_error(
        caught.value
    )


async def test_return_url_not_allowed_carries_host(client):
    acme = await project_named(client, "Acme Coffee Roasters")
    with pytest.raises(ApiError) as caught:
        await client.social_oauth_url(acme.id, "tiktok", "https://evil.example/cb")
    assert caught.value.code == "RETURN_URL_NOT_ALLOWED"
    assert caught.value.details["host"] == "evil.example"


async def test_gets_retry_5xx_with_backoff_then_succeed(sandbox_app, api_key, fake_clock, raw):
    await raw.post("/sandbox/faults", json={"failNext": 2})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        assert (await client.whoami()).organization_name == "Demo Agency"
    assert [status for _, _, status in counter.calls] == [500, 500, 200]
    assert fake_clock.sleeps == [0.5, 1.0]


async def test_gets_give_up_after_two_retries(sandbox_app, api_key, fake_clock, raw):
    await raw.post("/sandbox/faults", json={"failNext": 10, "failStatus": 503})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.status == 503 and caught.value.request_id
    assert len(counter.calls) == 3


async def test_429_waits_for_retry_after(sandbox_app, api_key, fake_clock, raw):
    await raw.post("/sandbox/faults", json={"rateLimitBurst": 1, "retryAfter": 3})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        await client.whoami()
    assert fake_clock.sleeps == [3.0]
    assert len(counter.calls) == 2


async def test_429_longer_than_the_cap_is_surfaced_not_waited(
    sandbox_app, api_key, fake_clock, raw
):
    await raw.post("/sandbox/faults", json={"rateLimitBurst": 1, "retryAfter": 120})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.code == "RATE_LIMITED" and caught.value.retry_after == 120
    assert len(counter.calls) == 1 and fake_clock.sleeps == []


async def test_unkeyed_writes_are_not_repeated_on_5xx_but_are_on_429(
    sandbox_app, api_key, fake_clock, raw
):
    acme = "prj_00000000-0000-4000-8000-000000000000"
    await raw.post("/sandbox/faults", json={"failNext": 1})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await client.social_oauth_url(acme, "tiktok", RETURN_URL)
        assert caught.value.status == 500 and len(counter.calls) == 1
        await raw.post("/sandbox/faults", json={"rateLimitBurst": 1, "retryAfter": 1})
        with pytest.raises(ApiError) as caught:
            await client.social_oauth_url(acme, "tiktok", RETURN_URL)
        assert caught.value.code == "NOT_FOUND"  # the retry after the 429 reached the route
        assert [s for _, _, s in counter.calls] == [500, 429, 404]


async def test_kill_switch_is_never_retried(sandbox_app, api_key, fake_clock, raw):
    await raw.post("/sandbox/faults", json={"killSwitch": "key"})
    client, counter = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.code == "KILL_SWITCH" and caught.value.details == {"scope": "key"}
    assert len(counter.calls) == 1


async def test_malformed_and_html_bodies_become_typed_errors(sandbox_app, api_key, fake_clock, raw):
    await raw.post("/sandbox/faults", json={"malformedNext": 1})
    client, _ = counted_client(sandbox_app, api_key, fake_clock)
    async with client:
        with pytest.raises(InvalidResponseError) as caught:
            await client.whoami()
        assert caught.value.code == "INVALID_RESPONSE" and caught.value.request_id
        await raw.post("/sandbox/faults", json={"htmlNext": 3})
        with pytest.raises(InvalidResponseError) as caught:
            await client.whoami()
        assert caught.value.status == 502 and "502 Bad Gateway" in caught.value.message


def mock_client(handler, clock) -> LayersClient:
    return LayersClient(
        BASE,
        "lp_test_ABC_secret",
        transport=httpx.MockTransport(handler),
        clock=clock,
        jitter=lambda low, high: high,
    )


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"error":"x"}', b'{"error":{"code":5}}', b"x" * 5_000_000, b"\xff\xfe"]
)
async def test_non_envelope_error_bodies(fake_clock, body):
    client = mock_client(lambda request: httpx.Response(400, content=body), fake_clock)
    async with client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.status == 400
    assert len(caught.value.message) < 300


async def test_unknown_enums_extra_fields_and_bad_rows_are_tolerated(fake_clock):
    items = [
        {
            "socialAccountId": "sa_1",
            "platform": "tiktok",
            "handle": "ok",
            "status": "connected",
            "connectedAt": "2026-01-01T00:00:00Z",
            "brandNewField": {"x": 1},
        },
        {
            "socialAccountId": "sa_2",
            "platform": "threads",
            "handle": "future",
            "status": "suspended",
            "connectedAt": "2026-01-01T00:00:00.187Z",
            "tokenExpiresAt": "2026-04-10T09:14:22.000000+02:00",
        },
        {"socialAccountId": "sa_3", "platform": "tiktok", "handle": None, "status": "connected"},
        {
            "socialAccountId": "sa_4",
            "platform": "tiktok",
            "handle": "naive",
            "status": "connected",
            "connectedAt": "2026-01-01T00:00:00",
            "tokenExpiresAt": 12345,
        },
    ]

    def handler(request):
        return httpx.Response(200, json={"items": items, "nextCursor": None, "more": True})

    client = mock_client(handler, fake_clock)
    async with client:
        page = await client.list_social_accounts("prj_x")
    assert [a.handle for a in page.items] == ["ok", "future", "naive"]
    assert len(page.invalid) == 1 and "handle" in page.invalid[0].problem
    future = page.items[1]
    assert future.status == "suspended" and future.platform == "threads"
    assert future.token_expires_at.utcoffset().total_seconds() == 7200
    assert page.items[2].connected_at.tzinfo is not None
    assert page.items[2].token_expires_at is None
    from layers_tui.models import Project

    row = social_row(future, Project(id="prj_x", name="X"), fake_clock.now())
    assert row.status_label == "unknown (suspended)"


async def test_repeating_cursor_does_not_loop_forever(fake_clock):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={"items": [], "nextCursor": "same"})

    client = mock_client(handler, fake_clock)
    async with client:
        pages = [page async for page in client.iter_projects()]
    assert len(pages) == 2 and len(calls) == 2


async def test_the_key_never_leaks(sandbox_app, fake_clock, raw, caplog, capsys):
    secret_part = "S3cretPart-xyz_0123456789abcdefghijklmnopq"
    key = f"lp_live_01HX9Y6K7EJ4T2AB_{secret_part}"
    caplog.set_level(logging.DEBUG)
    captured: list[str] = []
    client = LayersClient(
        BASE,
        key,
        transport=httpx.ASGITransport(app=sandbox_app),
        clock=fake_clock,
        jitter=lambda low, high: high,
    )
    async with client:
        for call in (
            client.whoami,
            lambda: client.get_project("prj_bad"),
            lambda: client.revoke_social_account("sa_x"),
        ):
            try:
                await call()
            except ApiError as error:
                captured += [str(error), repr(error), format_error(error), repr(error.details)]
        captured.append(repr(client))
        captured.append(repr(client._http().headers))
        captured.append(mask_key(key))
    captured += [record.getMessage() for record in caplog.records]
    out = capsys.readouterr()
    blob = "\n".join(captured) + out.out + out.err
    assert secret_part not in blob
    assert "lp_live_01HX9Y6K7EJ4T2AB_…" in blob
    assert json.dumps(blob)  # sanity: something was captured


async def test_a_key_with_surrounding_whitespace_still_works(sandbox_app, api_key, fake_clock):
    async with LayersClient(
        BASE, f" {api_key}\n", transport=httpx.ASGITransport(app=sandbox_app), clock=fake_clock
    ) as client:
        assert (await client.whoami()).organization_name == "Demo Agency"


@pytest.mark.parametrize("junk", [" ", "\n", "é", "\x00"])
async def test_a_key_a_header_cannot_carry_is_a_typed_error_not_a_dropped_connection(
    sandbox_app, api_key, fake_clock, caplog, junk
):
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    broken = api_key[:12] + junk + api_key[12:]
    async with LayersClient(
        BASE, broken, transport=httpx.MockTransport(answer), clock=fake_clock
    ) as client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.code == "INVALID_API_KEY" and "api_key" in caught.value.message
    assert sent == [] and fake_clock.sleeps == []
    assert api_key[12:] not in str(caught.value) + caplog.text


def test_userinfo_in_a_base_url_is_never_shown_nor_sent():
    secret = "lp_live_ABC_SuperSecretValue"
    client = LayersClient(f"https://user:{secret}@api.layers.com/v1", "lp_live_ABC_x")
    assert client.base_url == "https://api.layers.com/v1"
    assert "SuperSecret" not in repr(client)


async def test_a_bug_below_the_client_becomes_a_typed_error_and_is_logged(fake_clock, caplog):
    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            raise KeyError("not a network failure")

    async with LayersClient(BASE, "lp_test_A_b", transport=Broken(), clock=fake_clock) as client:
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.code == "CLIENT_FAILURE" and "KeyError" in caught.value.message
    assert fake_clock.sleeps == []  # not retried as if the network had failed
    assert "not a network failure" in caplog.text  # the traceback is in the log
    assert isinstance(caught.value.__cause__, KeyError)
