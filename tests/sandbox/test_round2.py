"""Issue 13: revoked accounts stay revoked, every 422 problem listed, scoped keys, request log.

Plain httpx against the sandbox, as in test_contract.py (our client is not trusted here).
"""

from __future__ import annotations

import re

import httpx
import pytest

from layers_tui.sandbox import create_app
from layers_tui.sandbox.state import make_demo_key
from tests.conftest import RETURN_URL
from tests.sandbox.test_contract import account, assert_error, client_for, first_project, mint


async def reauth(raw: httpx.AsyncClient, project_id: str, account_id: str) -> httpx.Response:
    return await raw.post(
        f"/v1/projects/{project_id}/social/reauth-url",
        json={"socialAccountId": account_id, "returnUrl": RETURN_URL},
    )


async def approve(raw: httpx.AsyncClient, state: str) -> httpx.Response:
    return await raw.post(
        f"/sandbox/consent/{state}", data={"decision": "approve"}, headers={"Authorization": ""}
    )


# -- 1. a revoked account must not come back ------------------------------
@pytest.mark.parametrize("handle", ["acme_baristas", "acmecoffee"])  # reauth_required, connected
async def test_approving_an_old_reauth_link_after_revoke_fails_and_the_account_stays_gone(
    raw, handle
):
    project_id = await first_project(raw)
    target = await account(raw, project_id, handle)
    account_id = target["socialAccountId"]
    state = (await reauth(raw, project_id, account_id)).json()["state"]
    assert (await raw.delete(f"/v1/social-accounts/{account_id}")).status_code == 200

    decided = await approve(raw, state)
    assert decided.status_code == 303
    assert decided.headers["location"] == f"{RETURN_URL}?layers_oauth_error=persistence_error"
    status = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert status["status"] == "failed"
    assert status["error"]["code"] == "persistence_error"
    assert "disconnected" in status["error"]["message"]
    assert "socialAccountId" not in status

    after = await account(raw, project_id, handle)
    assert after["socialAccountId"] == account_id
    assert after["status"] == "disconnected"
    assert after["disconnectedReason"] == "revoked_by_partner"
    assert after["tokenExpiresAt"] is None
    # The old id cannot be reconnected; a replay of the link is terminal.
    assert_error(await reauth(raw, project_id, account_id), 404, "NOT_FOUND")
    replay = await approve(raw, state)
    assert replay.headers["location"].endswith("layers_oauth_error=state_terminal")
    assert (await raw.get(f"/v1/social/oauth-status/{state}")).json() == status


async def test_after_a_revoke_a_fresh_connect_gives_a_new_id(raw):
    project_id = await first_project(raw)
    old = (await account(raw, project_id, "acmecoffee"))["socialAccountId"]
    await raw.delete(f"/v1/social-accounts/{old}")
    state = (await mint(raw, project_id)).json()["state"]
    await approve(raw, state)
    done = (await raw.get(f"/v1/social/oauth-status/{state}")).json()
    assert done["status"] == "completed" and done["socialAccountId"] != old


# -- 2. every validation problem is listed ------------------------------
async def test_oauth_url_lists_every_problem(raw):
    project_id = await first_project(raw)
    body = {
        "platform": "myspace",
        "returnUrl": "/relative",
        "scopes": ["x" * 65],
        "usageNote": 5,
        "colour": "red",
    }
    response = await raw.post(f"/v1/projects/{project_id}/social/oauth-url", json=body)
    error = assert_error(response, 422, "VALIDATION")
    paths = [issue["path"] for issue in error["details"]["issues"]]
    assert sorted(paths) == ["colour", "platform", "returnUrl", "scopes", "usageNote"]
    assert all(issue["message"] for issue in error["details"]["issues"])


async def test_reauth_url_lists_every_problem_before_any_policy_check(raw):
    project_id = await first_project(raw)
    body = {"socialAccountId": "sa_123", "returnUrl": "nope", "scopes": "all", "extra": 1}
    response = await raw.post(f"/v1/projects/{project_id}/social/reauth-url", json=body)
    error = assert_error(response, 422, "VALIDATION")
    paths = sorted(issue["path"] for issue in error["details"]["issues"])
    assert paths == ["extra", "returnUrl", "scopes", "socialAccountId"]
    # An unlisted host is a 403 only once the body is otherwise valid.
    body = {"socialAccountId": "sa_123", "returnUrl": "https://evil.example/cb"}
    response = await raw.post(f"/v1/projects/{project_id}/social/reauth-url", json=body)
    error = assert_error(response, 422, "VALIDATION")
    assert error["details"]["issues"] == [
        {"path": "socialAccountId", "message": "expected sa_<uuid>"}
    ]
    assert error["message"] == "socialAccountId must be sa_<uuid>."


async def test_ad_oauth_url_and_create_project_list_every_problem(raw):
    project_id = await first_project(raw)
    body = {"platform": "myspace_ads", "returnUrl": "ftp://x", "state": 7, "other": True}
    response = await raw.post(f"/v1/projects/{project_id}/ads/ad-accounts/oauth-url", json=body)
    error = assert_error(response, 422, "VALIDATION")
    paths = sorted(issue["path"] for issue in error["details"]["issues"])
    assert paths == ["other", "platform", "returnUrl", "state"]
    response = await raw.post("/v1/projects", json={"name": "x", "timezone": "Mars/Base", "y": 1})
    error = assert_error(response, 422, "VALIDATION")
    assert sorted(issue["path"] for issue in error["details"]["issues"]) == [
        "name",
        "timezone",
        "y",
    ]


async def test_list_queries_list_every_problem(raw):
    project_id = await first_project(raw)
    params = {"limit": "0", "platform": "myspace", "status": "odd", "leased": "maybe"}
    response = await raw.get(
        f"/v1/projects/{project_id}/social-accounts", params=params | {"cursor": "%%%"}
    )
    error = assert_error(response, 422, "VALIDATION")
    paths = sorted(issue["path"] for issue in error["details"]["issues"])
    assert paths == ["cursor", "leased", "limit", "platform", "status"]
    response = await raw.get("/v1/projects", params={"limit": "500", "status": "gone"})
    error = assert_error(response, 422, "VALIDATION")
    assert sorted(issue["path"] for issue in error["details"]["issues"]) == ["limit", "status"]
    response = await raw.get(
        f"/v1/projects/{project_id}/ads/ad-accounts",
        params={"platforms": "x_ads,y_ads", "healthy": "1"},
    )
    error = assert_error(response, 422, "VALIDATION")
    assert [issue["path"] for issue in error["details"]["issues"]] == [
        "platforms",
        "platforms",
        "healthy",
    ]


# -- 3. scoped keys ------------------------------
PROJECT = "prj_00000000-0000-4000-8000-000000000000"
ACCOUNT = "sa_00000000-0000-4000-8000-000000000000"
# The contract's scope table (§2.3), route by route.
ROUTES = [
    ("GET", "/v1/projects", None, "projects:read"),
    ("GET", f"/v1/projects/{PROJECT}", None, "projects:read"),
    ("POST", "/v1/projects", {"name": "New one", "timezone": "UTC"}, "projects:write"),
    ("GET", f"/v1/projects/{PROJECT}/social-accounts", None, "social:read"),
    ("GET", "/v1/social/oauth-status/st_X", None, "social:read"),
    ("GET", f"/v1/social-accounts/{ACCOUNT}/health", None, "social:read"),
    ("POST", f"/v1/projects/{PROJECT}/social/oauth-url", {}, "social:write"),
    ("POST", f"/v1/projects/{PROJECT}/social/reauth-url", {}, "social:write"),
    ("DELETE", f"/v1/social-accounts/{ACCOUNT}", None, "social:write"),
    ("GET", f"/v1/projects/{PROJECT}/ads/ad-accounts", None, "ads:read"),
    ("POST", f"/v1/projects/{PROJECT}/ads/ad-accounts/oauth-url", {}, "ads:write"),
]
ALL = ["projects:read", "projects:write", "social:read", "social:write", "ads:read", "ads:write"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
async def test_a_key_without_the_routes_scope_gets_forbidden_scope(
    sandbox_clock, method, path, body, scope
):
    lacking, holding = make_demo_key(), make_demo_key()
    others = ",".join(s for s in ALL if s != scope)
    app = create_app(clock=sandbox_clock, api_keys=[f"{lacking}:{others}", f"{holding}:{scope}"])
    async with client_for(app, lacking) as http:
        response = await http.request(method, path, json=body)
        error = assert_error(response, 403, "FORBIDDEN_SCOPE")
        assert error["details"] == {"requiredScope": scope}
        assert scope in error["message"]
    async with client_for(app, holding) as http:
        response = await http.request(method, path, json=body)
        assert response.status_code != 403, response.text


async def test_scoped_keys_beside_a_full_key(sandbox_clock):
    reader, writer, nothing = make_demo_key(), make_demo_key(), make_demo_key()
    app = create_app(
        clock=sandbox_clock,
        api_keys=[f"{reader}:social:read, projects:read", writer, f"{nothing}:"],
    )
    async with client_for(app, reader) as http:
        assert (await http.get("/v1/whoami")).json()["scopes"] == ["social:read", "projects:read"]
        project_id = await first_project(http)
        assert (await http.get(f"/v1/projects/{project_id}/social-accounts")).status_code == 200
        error = assert_error(await mint(http, project_id), 403, "FORBIDDEN_SCOPE")
        assert error["details"]["requiredScope"] == "social:write"
    async with client_for(app, writer) as http:
        assert (await http.get("/v1/whoami")).json()["scopes"] == ["*"]
        assert (await mint(http, project_id)).status_code == 200
    async with client_for(app, nothing) as http:
        assert (await http.get("/v1/whoami")).json()["scopes"] == []
        assert_error(await http.get("/v1/projects"), 403, "FORBIDDEN_SCOPE")


def test_an_unknown_scope_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown scope 'social:wirte'"):
        create_app(api_keys=[f"{make_demo_key()}:social:read,social:wirte"])


# -- 6. request log ------------------------------
async def test_request_log_has_one_line_per_request_and_never_the_key(sandbox_clock):
    lines: list[str] = []
    key = make_demo_key()
    app = create_app(clock=sandbox_clock, api_keys=[key], log_requests=lines.append)
    async with client_for(app, key) as http:
        ok = await http.get("/v1/whoami", params={"note": key})
        await http.get("/v1/nothing")
        await http.get("/sandbox/consent/st_UNKNOWN")
    assert len(lines) == 3
    pattern = r"GET /v1/whoami 200 \d+\.\dms (req_[0-9A-Z]{26})"
    match = re.fullmatch(pattern, lines[0])
    assert match and match.group(1) == ok.headers["x-request-id"]
    assert re.fullmatch(r"GET /v1/nothing 404 \d+\.\dms req_[0-9A-Z]{26}", lines[1])
    assert re.fullmatch(r"GET /sandbox/consent/st_UNKNOWN 404 \d+\.\dms -", lines[2])
    key_id = key.split("_")[2]
    assert not any(key in line or key_id in line for line in lines)
