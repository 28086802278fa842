"""A Partner API made of canned JSON behind `httpx.MockTransport`: for faults and hostile
values the sandbox will not produce (unknown platforms, endless cursors, duplicate ids)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from layers_tui.api import LayersClient
from layers_tui.clock import FakeClock
from tests.conftest import BASE

KEY = "lp_test_FAKEKEY1_s3cretvalueDoNotPrint"
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(status: int, code: str, message: str, request_id: str = "req_1") -> httpx.Response:
    body = {"error": {"code": code, "message": message, "requestId": request_id}}
    return httpx.Response(status, json=body)


@dataclass
class FakeApi:
    organization: str = "Fake Org"
    projects: list[dict[str, Any]] = field(default_factory=list)
    social: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # path -> handler, consulted first (errors, endless lists, dropped connections)
    routes: dict[str, Handler] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def add_project(self, project_id: str, name: str) -> None:
        self.projects.append({"id": project_id, "name": name, "timezone": "UTC"})
        self.social.setdefault(project_id, [])
        self.ads.setdefault(project_id, [])

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        if path in self.routes:
            return self.routes[path](request)
        if path == "/v1/whoami":
            return httpx.Response(
                200, json={"organizationId": "org_1", "organizationName": self.organization}
            )
        if path == "/v1/projects":
            return httpx.Response(200, json={"items": self.projects, "nextCursor": None})
        match = re.fullmatch(r"/v1/projects/([^/]+)/(social-accounts|ads/ad-accounts)", path)
        if match:
            table = self.social if match.group(2) == "social-accounts" else self.ads
            items = table.get(match.group(1))
            if items is None:
                return envelope(404, "NOT_FOUND", "no such project")
            return httpx.Response(200, json={"items": items, "nextCursor": None})
        return envelope(404, "NOT_FOUND", f"no route {path}")

    def client(self, clock: FakeClock | None = None) -> LayersClient:
        return LayersClient(
            BASE, KEY, transport=httpx.MockTransport(self.handle), clock=clock or FakeClock()
        )


def social(account_id: str, handle: str, status: str = "connected", **extra: Any) -> dict:
    return {
        "socialAccountId": account_id,
        "platform": extra.pop("platform", "tiktok"),
        "handle": handle,
        "status": status,
        **extra,
    }


def ad(account_id: str, name: str, token_status: str = "valid", **extra: Any) -> dict:
    return {
        "adAccountId": account_id,
        "platform": extra.pop("platform", "meta_ads"),
        "name": name,
        "tokenStatus": token_status,
        **extra,
    }
