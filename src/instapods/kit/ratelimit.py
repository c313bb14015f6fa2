"""Rate limits by name and key, on the `limits` library (memory or Redis storage)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("instapods.ratelimit")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class RateLimiter:
    """Named limits ("login": "5/minute") applied per key, usually the client IP."""

    def __init__(
        self, rules: dict[str, str], redis_url: str | None = None, prefix: str = "instapods"
    ) -> None:
        self.prefix = prefix
        self.rules: dict[str, RateLimitItem] = {name: parse(rule) for name, rule in rules.items()}
        self.storage: Storage = _redis(redis_url) if redis_url else MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        # While a shared store is unreachable, limits still hold per process.
        self.fallback = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, name: str, key: str) -> Verdict:
        try:
            return await self._hit(self.limiter, name, key)
        except Exception:  # the store is down: limit per process rather than fail every login
            log.warning("rate-limit storage unreachable; limiting in memory", exc_info=True)
            return await self._hit(self.fallback, name, key)

    async def _hit(self, limiter: MovingWindowRateLimiter, name: str, key: str) -> Verdict:
        item = self.rules[name]
        allowed = await limiter.hit(item, self.prefix, name, key)
        stats = await limiter.get_window_stats(item, self.prefix, name, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time())) if not allowed else 0
        return Verdict(allowed, item.amount, max(0, stats.remaining), retry_after)

    async def reset(self) -> None:
        await self.storage.reset()

    async def check(self) -> bool:
        return bool(await self.storage.check())


def _redis(url: str) -> Storage:
    """Redis storage through redis-py; `redis://host` becomes the asyncio `async+redis://host`."""
    storage = storage_from_string(
        url if url.startswith("async+") else f"async+{url}", implementation="redispy"
    )
    assert isinstance(storage, Storage)
    return storage
