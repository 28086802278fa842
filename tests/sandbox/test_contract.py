"""The sandbox honours the Partner API contract, checked with plain httpx (not our client)."""

from __future__ import annotations

import httpx
import pytest

from layers_tui.sandbox import create_app
from layers_tui.sandbox.state import make_demo_key
from tests.conftest import BASE, RETURN_URL


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["requestId"].startswith("req_")
    assert error["requestId"] == response.headers["x-request-id"]
    return error


async def first_project(raw: httpx.AsyncClient, name: str = "Acme Coffee Roasters") -> str:
    projects = (await raw.get("/v1/projects", params={"limit": 200})).json()["items"]
    return next(p["id"] for p in projects if p["name"] == name)


async def account(raw: httpx.AsyncClient, project_id: str, handle: str) -> dict:
    items = (await raw.get(f"/v1/projects/{project_id}/social-accounts")).json()["items"]
    return next(a for a in items if a["handle"] == handle)


def client_for(app, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {key}"},
    )


# -- auth, envelope, headers ------------------------------
async def test_missing_and_unknown_keys_are_unauthenticated(sandbox_app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE
    ) as anonymous:
        assert_error(await anonymous.get("/v1/whoami"), 401, "UNAUTHENTICATED")
        wrong = await anonymous.get(
            "/v1/whoami", headers={"Authorization": f"Bearer {make_demo_key()}"}
        )
        assert_error(wrong, 401, "UNAUTHENTICATED")


async def test_x_api_key_is_accepted_and_wins_over_bearer(sandbox_app, api_key):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE
    ) as http:
        ok = await http.get(
            "/v1/whoami", headers={"X-Api-Key": api_key, "Authorization": "Bearer lp_test_X_bad"}
        )
        assert ok.status_code == 200
        bad = await http.get(
            "/v1/whoami",
            headers={"X-Api-Key": "lp_test_X_bad", "Authorization": f"Bearer {api_key}"},
        )
        assert_error(bad, 401, "UNAUTHENTICATED")


async def test_whoami_and_headers_on_every_response(raw):
    response = await raw.get("/v1/whoami")
    body = response.json()
    assert body["organizationName"] == "Demo Agency"
    assert body["rateLimitTier"] == "standard"  # the default: the tier partners start on
    assert body["organizationId"].startswith("org_")
    assert body["apiKeyId"].startswith("key_")
    assert body["scopes"] == ["*"]
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-ratelimit-endpoint-class"] == "read-light"
    assert int(response.headers["x-ratelimit-limit"]) == 120
    assert int(response.headers["x-ratelimit-remaining"]) == 119
    assert "x-ratelimit-reset" in response.headers


async def test_unknown_route_and_method_use_the_envelope(raw):
    assert_error(await raw.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_error(await raw.put("/v1/whoami"), 405, "METHOD_NOT_ALLOWED")


async def test_forbidden_scope(sandbox_clock):
    key = make_demo_key()
    app = create_app(clock=sandbox_clock, api_keys=[key], scopes=["social:read"])
    async with client_for(app, key) as http:
        error = assert_error(await http.get("/v1/projects"), 403, "FORBIDDEN_SCOPE")
        assert error["details"]["requiredScope"] == "projects:read"
        assert (await http.get("/v1/whoami")).json()["scopes"] == ["social:read"]


# -- projects ------------------------------
async def test_projects_paginate_newest_first(raw):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        body = (await raw.get("/v1/projects", params=params)).json()
        seen.extend(body["items"])
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 2
    assert len(seen) == 6
    created = [p["createdAt"] for p in seen]
    assert created == sorted(created, reverse=True)
    assert all(p["id"].startswith("prj_") for p in seen)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "x"},
        {"cursor": "not-a-cursor"},
        {"status": "deleted"},
    ],
)
async def test_projects_bad_query_is_validation(raw, params):
    error = assert_error(await raw.get("/v1/projects", params=params), 422, "VALIDATION")
    assert error["details"]["issues"]


async def test_project_filters_and_get(raw):
    found = (await raw.get("/v1/projects", params={"search": "pixel"})).json()["items"]
    assert [p["name"] for p in found] == ["Pixel Pals Games"]
    by_customer = await raw.get("/v1/projects", params={"customerExternalId": "cus_acme_001"})
    assert [p["name"] for p in by_customer.json()["items"]] == ["Acme Coffee Roasters"]
    project_id = found[0]["id"]
    assert (await raw.get(f"/v1/projects/{project_id}")).json()["name"] == "Pixel Pals Games"
    bare = project_id.removeprefix("prj_")
    assert (await raw.get(f"/v1/projects/{bare}")).json()["id"] == project_id
    assert_error(
        await raw.get("/v1/projects/prj_00000000-0000-4000-8000-000000000000"), 404, "NOT_FOUND"
    )
    assert_error(await raw.get("/v1/projects/nonsense"), 400, "VALIDATION")


async def test_create_project_validates_and_is_idempotent(raw):
    body = {"name": "Moss Yoga", "timezone": "Europe/Berlin"}
    created = await raw.post("/v1/projects", json=body, headers={"Idempotency-Key": "k-1"})
    assert created.status_code == 201
    replay = await raw.post("/v1/projects", json=body, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201
    assert replay.json() == created.json()
    assert replay.headers["idempotent-replayed"] == "true"
    conflict = await raw.post(
        "/v1/projects", json={**body, "name": "Moss Yoga 2"}, headers={"Idempotency-Key": "k-1"}
    )
    details = assert_error(conflict, 409, "IDEMPOTENCY_CONFLICT")["details"]
    assert details["originalRequestHash"] != details["currentRequestHash"]
    bad = await raw.post("/v1/projects", json={"name": "x", "timezone": "Mars/Base"})
    paths = {i["path"] for i in assert_error(bad, 422, "VALIDATION")["details"]["issues"]}
    assert paths == {"name", "timezone"}
    assert_error(await raw.post("/v1/projects", content=b"{oops"), 400, "VALIDATION")


# -- social accounts ------------------------------
async def test_social_accounts_paging_filters_and_shapes(raw):
    project_id = await first_project(raw, "Northwind Fitness")
    url = f"/v1/projects/{project_id}/social-accounts"
    everything = (await raw.get(url)).json()
    assert everything["nextCursor"] is None
    assert len(everything["items"]) == 4
    first = (await raw.get(url, params={"limit": 3})).json()
    second = (await raw.get(url, params={"limit": 3, "cursor": first["nextCursor"]})).json()
    assert [a["socialAccountId"] for a in first["items"] + second["items"]] == [
        a["socialAccountId"] for a in everything["items"]
    ]
    assert second["nextCursor"] is None
    leased = (await raw.get(url, params={"leased": "true"})).json()["items"]
    assert len(leased) == 2 and all(a["leased"] and a["tokenExpiresAt"] is None for a in leased)
    reauth = (await raw.get(url, params={"status": "reauth_required"})).json()["items"]
    assert [a["handle"] for a in reauth] == ["northwindfitness"]
    for params in (
        {"status": "broken"},
        {"platform": "myspace"},
        {"leased": "maybe"},
        {"limit": 500},
        {"cursor": "%%%"},
    ):
        assert_error(await raw.get(url, params=params), 422, "VALIDATION")


async def test_disconnected_rows_are_listed_with_reason(raw):
    project_id = await first_project(raw, "Bloom & Wild Florists")
    gone = await account(raw, project_id, "bloom_weddings")
    assert gone["status"] == "disconnected"
    assert gone["disconnectedReason"] == "revoked_by_partner"


async def test_health_snapshot(raw):
    project_id = await first_project(raw)
    target = await account(raw, project_id, "acmecoffee")
    health = (await raw.get(f"/v1/social-accounts/{target['socialAccountId']}/health")).json()
    assert 0 <= health["score"] <= 100
    assert health["tier"] in ("shadowbanned", "new", "cold", "warming_up", "warm", "hot")
    assert isinstance(health["recommendation"], str) and health["recommendation"]
    assert_error(await raw.get("/v1/social-accounts/sa_nope/health"), 400, "VALIDATION")
    missing = "sa_00000000-0000-4000-8000-000000000000"
    assert_error(await raw.get(f"/v1/social-accounts/{missing}/health"), 404, "NOT_FOUND")


async def test_revoke_cancels_queued_posts_once(raw):
    project_id = await first_project(raw)
    target = await account(raw, project_id, "acmecoffee")
    path = f"/v1/social-accounts/{target['socialAccountId']}"
    result = (await raw.delete(path)).json()
    assert result == {
        "socialAccountId": target["socialAccountId"],
        "status": "disconnected",
        "disconnectedReason": "revoked_by_partner",
        "canceledScheduledPosts": 6,
        "disconnectedAt": "2026-11-20T12:00:00Z",
    }
    assert (await account(raw, project_id, "acmecoffee"))["status"] == "disconnected"
    assert_error(await raw.delete(path), 404, "NOT_FOUND")
    assert_error(await raw.delete("/v1/social-accounts/123"), 400, "VALIDATION")
    health = await raw.get(f"{path}/health")
    assert_error(health, 404, "NOT_FOUND")


async def test_revoke_of_a_leased_account_is_a_conflict(raw):
    project_id = await first_project(raw, "Northwind Fitness")
    leased = await account(raw, project_id, "nw_daily_workout")
    response = await raw.delete(f"/v1/social-accounts/{leased['socialAccountId']}")
    assert_error(response, 409, "CONFLICT")


# -- OAuth URLs and states ------------------------------
async def mint(raw, project_id, **body):
    payload = {"platform": "tiktok", "returnUrl": RETURN_URL} | body
    return await raw.post(f"/v1/projects/{project_id}/social/oauth-url", json=payload)


async def test_oauth_url_shape_and_ttl(raw):
    project_id = await first_project(raw)
    body = (await mint(raw, project_id)).json()
    assert body["state"].startswith("st_") and len(body["state"]) == 29
    assert body["expiresAt"] == "2026-11-20T12:10:00Z"
    assert f"state={body['state']}" in body["authorizeUrl"]
    assert body["authorizeUrl"].startswith(f"{BASE}/sandbox/consent/{body['state']}?")
    assert len(body["authorizeUrl"]) > 300  # as long as a real platform URL


@pytest.mark.parametrize(
    ("body", "status", "code", "path"),
    [
        ({"colour": "red"}, 422, "VALIDATION", "colour"),
        ({"platform": "myspace"}, 422, "VALIDATION", "platform"),
        ({"returnUrl": "/relative"}, 422, "VALIDATION", "returnUrl"),
        ({"scopes": ["x"] * 33}, 422, "VALIDATION", "scopes"),
        ({"scopes": ["x" * 65]}, 422, "VALIDATION", "scopes"),
    ],
)
async def test_oauth_url_validation(raw, body, status, code, path):
    project_id = await first_project(raw)
    error = assert_error(await mint(raw, project_id, **body), status, code)
    assert path in {issue["path"] for issue in error["details"]["issues"]}


@pytest.mark.parametrize(
    "url", ["https://evil.example/cb", "http://app.example.com/cb", "https://LOCALHOST.evil/cb"]
)
async def test_return_url_allowlist(raw, url):
    project_id = await first_project(raw)
    error = assert_error(await mint(raw, project_id, returnUrl=url), 403, "RETURN_URL_NOT_ALLOWED")
    assert error["details"]["returnUrl"] == url
    assert error["details"]["host"] == httpx.URL(url).host.lower()


async def test_return_url_host_matches_case_insensitively_and_any_localhost_port(raw):
    project_id = await first_project(raw)
    assert (await mint(raw, project_id, returnUrl="http://LocalHost:9999/x")).status_code == 200
    await raw.post("/sandbox/allowlist", json={"hosts": ["App.Example.com"]})
    ok = await mint(raw, project_id, returnUrl="https://app.example.COM/done")
    assert ok.status_code == 200
    assert_error(await mint(raw, project_id), 403, "RETURN_URL_NOT_ALLOWED")


async def test_oauth_url_unknown_project_and_bad_json(raw):
    missing = "prj_00000000-0000-4000-8000-000000000000"
    assert_error(await mint(raw, missing), 404, "NOT_FOUND")
    project_id = await first_project(raw)
    response = await raw.post(f"/v1/projects/{project_id}/social/oauth-url", content=b"[")
    assert_error(response, 400, "VALIDATION")


async def test_connect_walk_through_consent(raw):
    project_id = await first_project(raw)
    minted = (await mint(raw, project_id)).json()
    state = minted["state"]
    status = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert status == {"state": state, "status": "pending", "expiresAt": minted["expiresAt"]}
    page = await raw.get(f"/sandbox/consent/{state}", headers={"Authorization": ""})
    assert page.status_code == 200 and "Approve" in page.text and "Acme Coffee" in page.text
    decided = await raw.post(
        f"/sandbox/consent/{state}", data={"decision": "approve"}, headers={"Authorization": ""}
    )
    assert decided.status_code == 303
    assert decided.headers["location"] == RETURN_URL
    done = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert done["status"] == "completed" and done["platform"] == "tiktok"
    created = await account(raw, project_id, done["handle"])
    assert created["socialAccountId"] == done["socialAccountId"]
    assert created["status"] == "connected"
    replay = await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    assert replay.headers["location"] == f"{RETURN_URL}?layers_oauth_error=state_terminal"
    assert (await raw.get(f"/v1/social/oauth-status/{state}")).json()["status"] == "completed"


async def test_deny_and_simulated_failures_carry_the_redirect_code(raw):
    project_id = await first_project(raw)
    for decision, code in (
        ("deny", "platform_denied"),
        ("fail", "exchange_failed"),
        ("fail", "persistence_error"),
    ):
        state = (await mint(raw, project_id)).json()["state"]
        form = {"decision": decision} | ({"code": code} if decision == "fail" else {})
        decided = await raw.post(f"/sandbox/consent/{state}", data=form)
        assert decided.headers["location"].endswith(f"?layers_oauth_error={code}")
        status = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
        assert status["status"] == "failed"
        assert status["error"]["code"] == code and status["error"]["message"]
        replay = await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
        assert replay.headers["location"].endswith("layers_oauth_error=state_terminal")


async def test_expiry_fails_the_state_and_it_vanishes_after_a_day(raw, sandbox_clock):
    project_id = await first_project(raw)
    state = (await mint(raw, project_id)).json()["state"]
    sandbox_clock.advance(599)
    assert (await raw.get(f"/v1/social/oauth-status/{state}")).json()["status"] == "pending"
    sandbox_clock.advance(1)
    failed = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "state_expired"
    late = await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    assert late.headers["location"].endswith("layers_oauth_error=state_expired")
    again = await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    assert again.headers["location"].endswith("layers_oauth_error=state_terminal")
    sandbox_clock.advance(24 * 3600)
    assert_error(await raw.get(f"/v1/social/oauth-status/{state}"), 404, "NOT_FOUND")


async def test_state_is_visible_only_to_the_minting_key(sandbox_clock):
    first, second = make_demo_key(), make_demo_key()
    app = create_app(clock=sandbox_clock, api_keys=[first, second])
    async with client_for(app, first) as one, client_for(app, second) as two:
        project_id = await first_project(one)
        state = (await mint(one, project_id)).json()["state"]
        assert (await one.get(f"/v1/social/oauth-status/{state}")).status_code == 200
        assert_error(await two.get(f"/v1/social/oauth-status/{state}"), 404, "NOT_FOUND")
        assert_error(await one.get("/v1/social/oauth-status/st_UNKNOWN"), 404, "NOT_FOUND")


async def test_reauth_keeps_the_account_id(raw):
    project_id = await first_project(raw)
    broken = await account(raw, project_id, "acme_baristas")
    assert broken["status"] == "reauth_required"
    response = await raw.post(
        f"/v1/projects/{project_id}/social/reauth-url",
        json={"socialAccountId": broken["socialAccountId"], "returnUrl": RETURN_URL},
    )
    state = response.json()["state"]
    await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    done = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert done["socialAccountId"] == broken["socialAccountId"]
    fixed = await account(raw, project_id, "acme_baristas")
    assert fixed["status"] == "connected"
    assert fixed["tokenExpiresAt"] == "2026-12-20T12:00:00Z"


async def test_reauth_errors(raw):
    project_id = await first_project(raw, "Bloom & Wild Florists")
    url = f"/v1/projects/{project_id}/social/reauth-url"
    gone = await account(raw, project_id, "bloom_weddings")
    body = {"socialAccountId": gone["socialAccountId"], "returnUrl": RETURN_URL}
    assert_error(await raw.post(url, json=body), 404, "NOT_FOUND")
    other_project = await first_project(raw)
    foreign = await account(raw, other_project, "acmecoffee")
    body = {"socialAccountId": foreign["socialAccountId"], "returnUrl": RETURN_URL}
    assert_error(await raw.post(url, json=body), 404, "NOT_FOUND")
    error = assert_error(
        await raw.post(url, json={"socialAccountId": "sa_123", "returnUrl": RETURN_URL}),
        422,
        "VALIDATION",
    )
    assert error["details"]["issues"][0]["path"] == "socialAccountId"
    live = await account(raw, project_id, "bloomandwild")
    extra = {"socialAccountId": live["socialAccountId"], "returnUrl": RETURN_URL, "x": 1}
    error = assert_error(await raw.post(url, json=extra), 422, "VALIDATION")
    assert error["details"]["issues"] == [{"path": "x", "message": "unknown field"}]


async def test_token_expiry_turns_connected_into_reauth_required(raw, sandbox_clock):
    project_id = await first_project(raw, "Harbor Dental Group")
    assert (await account(raw, project_id, "harbordental"))["status"] == "connected"
    sandbox_clock.advance(19 * 3600)
    assert (await account(raw, project_id, "harbordental"))["status"] == "reauth_required"


async def test_expire_token_control(raw):
    project_id = await first_project(raw)
    target = await account(raw, project_id, "acmecoffee")
    response = await raw.post(f"/sandbox/social-accounts/{target['socialAccountId']}/expire-token")
    assert response.json()["status"] == "reauth_required"


# -- ad accounts ------------------------------
async def test_ad_accounts_list_and_filters(raw):
    project_id = await first_project(raw)
    url = f"/v1/projects/{project_id}/ads/ad-accounts"
    items = (await raw.get(url)).json()["items"]
    assert {(a["platform"], a["tokenStatus"]) for a in items} == {
        ("meta_ads", "valid"),
        ("tiktok_ads", "expired"),
    }
    assert [
        a["platform"] for a in (await raw.get(url, params={"healthy": "true"})).json()["items"]
    ] == ["meta_ads"]
    only = (await raw.get(url, params={"platforms": "tiktok_ads"})).json()["items"]
    assert [a["platform"] for a in only] == ["tiktok_ads"]
    assert_error(await raw.get(url, params={"platforms": "google_ads"}), 422, "VALIDATION")


async def test_ad_connect_creates_and_reconnect_updates_in_place(raw):
    project_id = await first_project(raw)
    url = f"/v1/projects/{project_id}/ads/ad-accounts"
    before = (await raw.get(url)).json()["items"]
    minted = await raw.post(
        f"{url}/oauth-url",
        json={"platform": "tiktok_ads", "returnUrl": RETURN_URL, "state": "sess_9f2a4d1c"},
    )
    body = minted.json()
    assert set(body) == {"url", "expiresAt", "platform"}
    state = httpx.URL(body["url"]).path.rsplit("/", 1)[1]
    done = await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    assert done.headers["location"] == RETURN_URL  # partner state is not echoed
    after = (await raw.get(url)).json()["items"]
    assert len(after) == len(before)
    assert {a["tokenStatus"] for a in after} == {"valid"}
    fresh = await raw.post(
        f"{url}/oauth-url", json={"platform": "apple_ads", "redirectUrl": RETURN_URL}
    )
    state = httpx.URL(fresh.json()["url"]).path.rsplit("/", 1)[1]
    await raw.post(f"/sandbox/consent/{state}", data={"decision": "approve"})
    assert len((await raw.get(url)).json()["items"]) == len(before) + 1
    assert_error(await raw.get(f"/v1/social/oauth-status/{state}"), 404, "NOT_FOUND")


async def test_ad_oauth_url_validation(raw):
    project_id = await first_project(raw)
    url = f"/v1/projects/{project_id}/ads/ad-accounts/oauth-url"
    assert_error(await raw.post(url, json={"platform": "meta_ads"}), 422, "VALIDATION")
    assert_error(
        await raw.post(url, json={"platform": "google_ads", "returnUrl": RETURN_URL}),
        422,
        "VALIDATION",
    )
    error = assert_error(
        await raw.post(url, json={"platform": "meta_ads", "returnUrl": "https://x.example/cb"}),
        403,
        "RETURN_URL_NOT_ALLOWED",
    )
    assert error["details"]["host"] == "x.example"


# -- rate limits, kill switch, faults ------------------------------
async def test_standard_tier_rate_limit_and_refill(sandbox_clock):
    key = make_demo_key()
    app = create_app(clock=sandbox_clock, api_keys=[key], tier="standard")
    async with client_for(app, key) as http:
        for _ in range(120):
            assert (await http.get("/v1/whoami")).status_code == 200
        limited = await http.get("/v1/whoami")
        assert_error(limited, 429, "RATE_LIMITED")
        assert limited.headers["retry-after"] == "1"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        # write-light is a separate bucket
        project_id = "prj_00000000-0000-4000-8000-000000000000"
        assert (await mint(http, project_id)).status_code == 404
        sandbox_clock.advance(1)
        assert (await http.get("/v1/whoami")).status_code == 200


async def test_kill_switch_on_every_route_including_whoami(raw):
    await raw.post("/sandbox/faults", json={"killSwitch": "key"})
    error = assert_error(await raw.get("/v1/whoami"), 503, "KILL_SWITCH")
    assert error["details"] == {"scope": "key"}
    await raw.post("/sandbox/faults", json={"killSwitch": "organization"})
    error = assert_error(await raw.get("/v1/projects"), 503, "KILL_SWITCH")
    assert error["details"] == {"scope": "organization"}
    await raw.post("/sandbox/faults", json={"killSwitch": None})
    assert (await raw.get("/v1/whoami")).status_code == 200


async def test_injected_faults(raw):
    await raw.post(
        "/sandbox/faults",
        json={
            "failNext": 1,
            "malformedNext": 1,
            "htmlNext": 1,
            "rateLimitBurst": 1,
            "retryAfter": 3,
        },
    )
    limited = await raw.get("/v1/whoami")
    assert_error(limited, 429, "RATE_LIMITED")
    assert limited.headers["retry-after"] == "3"
    assert_error(await raw.get("/v1/whoami"), 500, "INTERNAL")
    broken = await raw.get("/v1/whoami")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    html = await raw.get("/v1/whoami")
    assert html.status_code == 502 and html.headers["content-type"].startswith("text/html")
    assert (await raw.get("/v1/whoami")).status_code == 200


async def test_controls_need_a_key_but_consent_does_not(sandbox_app, raw):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=BASE
    ) as anonymous:
        assert_error(
            await anonymous.post("/sandbox/faults", json={"failNext": 1}), 401, "UNAUTHENTICATED"
        )
        assert_error(
            await anonymous.post("/sandbox/clock/advance", json={"seconds": 5}),
            401,
            "UNAUTHENTICATED",
        )
        assert (await anonymous.get("/sandbox/consent/st_UNKNOWN")).status_code == 404
    assert (await raw.post("/sandbox/clock/advance", json={"seconds": 60})).json() == {
        "now": "2026-11-20T12:01:00Z"
    }


async def test_sqlite_file_keeps_accounts_and_states(tmp_path, sandbox_clock):
    db = str(tmp_path / "sandbox.db")
    key = make_demo_key()
    first = create_app(clock=sandbox_clock, api_keys=[key], db_path=db)
    async with client_for(first, key) as http:
        project_id = await first_project(http)
        state = (await mint(http, project_id)).json()["state"]
    second = create_app(clock=sandbox_clock, api_keys=[key], db_path=db)
    async with client_for(second, key) as http:
        assert len((await http.get("/v1/projects")).json()["items"]) == 6
        assert (await http.get(f"/v1/social/oauth-status/{state}")).json()["status"] == "pending"


async def test_generated_organisation(sandbox_clock):
    key = make_demo_key()
    app = create_app(clock=sandbox_clock, api_keys=[key], projects=30, accounts_per_project=7)
    async with client_for(app, key) as http:
        page = (await http.get("/v1/projects", params={"limit": 200})).json()
        assert len(page["items"]) == 30
        accounts = await http.get(f"/v1/projects/{page['items'][0]['id']}/social-accounts")
        assert len(accounts.json()["items"]) == 7
