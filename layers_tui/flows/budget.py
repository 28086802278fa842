"""One read-light request budget for the whole app: pending flows first, then the project on
screen, then background refresh. Never lets the app cause a 429 by itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

from layers_tui.clock import Clock

TIER_READ_LIGHT_RPM = {"standard": 120, "pilot": 1200, "partner": 6000}
FLOW_CADENCE = 5.0  # the contract's polling floor
FLOW_SHARE = 2 / 3  # pending flows may use at most this share of the budget
HEADROOM = 0.9  # keep 10 % for the user's own clicks and the server's rounding
PRIORITIES = ("flow", "visible", "background")


@dataclass(frozen=True)
class RefreshPlan:
    interval: float
    stretched: bool
    reason: str


class RequestBudget:
    """A local token bucket mirroring the server's read-light bucket, with reserves."""

    def __init__(self, clock: Clock, per_minute: int = 120) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._tokens = float(self.capacity)
        self._stamp = clock.monotonic()
        self.pending_flows = 0

    @classmethod
    def for_tier(cls, clock: Clock, tier: str) -> RequestBudget:
        return cls(clock, TIER_READ_LIGHT_RPM.get(tier, TIER_READ_LIGHT_RPM["standard"]))

    def set_tier(self, tier: str) -> None:
        """Adopt the tier whoami reports. The bucket keeps what was already spent (the
        server's own headers correct it further through `observe_remaining`)."""
        spent = self.capacity - self._tokens
        self.per_minute = TIER_READ_LIGHT_RPM.get(tier, TIER_READ_LIGHT_RPM["standard"])
        self._refill()
        self._tokens = max(0.0, float(self.capacity) - spent)

    @property
    def rate(self) -> float:
        """Tokens per second we allow ourselves."""
        return self.per_minute * HEADROOM / 60.0

    @property
    def capacity(self) -> int:
        """Ten seconds' worth: small bursts, never the server's whole minute at once."""
        return max(4, math.floor(self.rate * 10))  # room for one project (2) above the reserve

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def _reserve(self, priority: str) -> float:
        """Tokens a lower priority must leave in the bucket for the ones above it."""
        flows_next_10s = min(self.capacity / 2, self.pending_flows * 10 / self.flow_cadence())
        if priority == "flow":
            return 0.0
        if priority == "visible":
            return flows_next_10s
        return flows_next_10s + self.capacity * 0.2

    def try_take(self, priority: str, cost: int = 1) -> bool:
        self._refill()
        if self._tokens - cost < self._reserve(priority):
            return False
        self._tokens -= cost
        return True

    def wait_seconds(self, priority: str, cost: int = 1) -> float:
        self._refill()
        missing = cost + self._reserve(priority) - self._tokens
        return max(0.05, missing / self.rate)

    async def acquire(self, priority: str, cost: int = 1) -> None:
        # Short naps: the tier (and so the rate) can change while we wait (whoami at start).
        while not self.try_take(priority, cost):
            await self.clock.sleep(min(0.25, self.wait_seconds(priority, cost)))

    def refund(self, cost: int = 1) -> None:
        """Give back tokens taken for requests that were not sent after all."""
        self._refill()
        self._tokens = min(float(self.capacity), self._tokens + cost)

    def observe_remaining(self, remaining: int | None) -> None:
        """The server says how much is left (other clients of the same key count too)."""
        if remaining is not None and remaining < self._tokens:
            self._tokens = float(remaining)

    def flow_cadence(self) -> float:
        """Seconds between polls of one flow so all flows stay within their share."""
        flows = max(1, self.pending_flows)
        return max(FLOW_CADENCE, 60.0 * flows / (self.per_minute * FLOW_SHARE))

    def refresh_plan(self, projects: int, requested: float) -> RefreshPlan:
        """How often the whole inventory may be refreshed with what flows leave over."""
        per_refresh = 1 + math.ceil(max(projects, 1) / 200) + 2 * projects
        flow_rate = self.pending_flows * 60.0 / self.flow_cadence()
        spare = self.per_minute * HEADROOM - flow_rate
        if spare <= 0:
            return RefreshPlan(3600.0, True, "pending flows use the whole request budget")
        needed = 60.0 * per_refresh / spare
        if needed <= requested:
            return RefreshPlan(requested, False, "")
        minutes = needed / 60
        span = f"{math.ceil(minutes)} min" if minutes >= 1 else f"{math.ceil(needed)} s"
        return RefreshPlan(
            needed, True, f"refresh every {span} to stay within {self.per_minute} req/min"
        )
