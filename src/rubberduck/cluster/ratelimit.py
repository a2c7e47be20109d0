"""The sliding rate-limit window shared by every node: RPM 10 admits 10 per minute across all of them.

One Lua script expires, checks and records in one step, so two nodes can never both see "9 in the
window" and both admit: Redis runs scripts one at a time. The clock is Redis's own `TIME`, never a
node's, so resets and Retry-After agree whichever node answers. The window's answers are the same as
the in-process `SlidingWindowLimiter`'s (faults/ratelimit.py), which also answers while Redis is down
(fail open: each node then limits on its own).

Keys `rd:rl:{proxy}:{name}:{req,tok,size,sum}`: requests and token charges as sorted sets scored by
the microsecond they were admitted, each charge's size in a hash, the running token sum in a string.
All four expire a minute after the last admission, so an idle window leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from redis.asyncio import Redis

from rubberduck.cluster.link import RedisLink
from rubberduck.faults.ratelimit import WINDOW_SECONDS, Quota, SlidingWindowLimiter, TokenCharge

logger = logging.getLogger("rubberduck.cluster")

_MICROS = 1_000_000
_WINDOW_MICROS = int(WINDOW_SECONDS * _MICROS)

# KEYS: requests zset, charges zset, charge sizes hash, token sum. ARGV: op (acquire|peek|correct),
# rpm (-1: none), tpm (-1: none), estimated tokens, charge id, corrected tokens.
# Returns {allowed, over requests, over tokens, requests in window, tokens in window,
#          oldest request (µs, -1: none), oldest charge (µs, -1: none), now (µs)}; the oldest ones are
# read before this request is recorded, as the in-process limiter does.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local horizon = now - tonumber(ARGV[7])
local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
while true do
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', horizon, 'LIMIT', 0, 500)
  if #old == 0 then break end
  local sizes = redis.call('HMGET', KEYS[3], unpack(old))
  local gone = 0
  for i = 1, #sizes do gone = gone + (tonumber(sizes[i]) or 0) end
  redis.call('DECRBY', KEYS[4], gone)
  redis.call('HDEL', KEYS[3], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
end
if ARGV[1] == 'correct' then
  local was = redis.call('HGET', KEYS[3], ARGV[5])
  if was then
    redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
    redis.call('INCRBY', KEYS[4], tonumber(ARGV[6]) - tonumber(was))
  end
end
local count = redis.call('ZCARD', KEYS[1])
local tokens = tonumber(redis.call('GET', KEYS[4]) or '0')
local first_req = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local first_tok = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local oldest_req = first_req[2] and tonumber(first_req[2]) or -1
local oldest_tok = first_tok[2] and tonumber(first_tok[2]) or -1
if ARGV[1] ~= 'acquire' then
  return {1, 0, 0, count, tokens, oldest_req, oldest_tok, now}
end
local estimated = tonumber(ARGV[4])
local over_req = rpm >= 0 and count >= rpm
local over_tok = tpm >= 0 and tokens > 0 and tokens + estimated > tpm
if over_req or over_tok then
  return {0, over_req and 1 or 0, over_tok and 1 or 0, count, tokens, oldest_req, oldest_tok, now}
end
local ttl = tonumber(ARGV[7]) / 1000 + 1000
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('HSET', KEYS[3], ARGV[5], estimated)
redis.call('INCRBY', KEYS[4], estimated)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {1, 0, 0, count + 1, tokens + estimated, oldest_req, oldest_tok, now}
"""


class SharedCharge(TokenCharge):
    """A token charge recorded in Redis: its id there is what a correction names."""

    __slots__ = ("id",)

    def __init__(self, at: float, tokens: int, charge_id: str) -> None:
        super().__init__(at, tokens)
        self.id = charge_id


def limit_fingerprint(rpm: int | None, tpm: int | None) -> str:
    """A window name for these limits: a changed limit starts a fresh window rather than inheriting one."""
    return f"r{rpm if rpm is not None else '-'}t{tpm if tpm is not None else '-'}"


class RedisWindowLimiter:
    """`SlidingWindowLimiter`'s answers from a window every node shares; its methods await Redis."""

    def __init__(
        self, link: RedisLink, proxy_id: int, rpm: int | None, tpm: int | None, name: str | None = None
    ) -> None:
        self.link = link
        self.rpm = rpm
        self.tpm = tpm
        prefix = f"rd:rl:{proxy_id}:{name or limit_fingerprint(rpm, tpm)}"
        self._keys = [f"{prefix}:req", f"{prefix}:tok", f"{prefix}:size", f"{prefix}:sum"]
        self._script = link.client.register_script(_SCRIPT)
        self.local = SlidingWindowLimiter(rpm, tpm)  # answers while Redis cannot
        self._corrections: set[asyncio.Task[None]] = set()

    async def _call(
        self, op: str, estimated: int = 0, charge_id: str = "", actual: int = 0
    ) -> list[int] | None:
        args: list[str | int] = [
            op,
            -1 if self.rpm is None else self.rpm,
            -1 if self.tpm is None else self.tpm,
            estimated,
            charge_id,
            actual,
            _WINDOW_MICROS,
        ]

        async def call(client: Redis) -> list[int]:
            return [int(value) for value in await self._script(keys=self._keys, args=args, client=client)]

        return await self.link.run(call, None)

    async def acquire(self, estimated_tokens: int) -> tuple[Quota, TokenCharge | None]:
        """Admit and record the request in the shared window, or refuse it with the wait until it fits."""
        charge_id = secrets.token_hex(8)
        answer = await self._call("acquire", estimated_tokens, charge_id)
        if answer is None:
            return self.local.acquire(estimated_tokens)
        allowed, over_requests, over_tokens, count, tokens, oldest_req, oldest_tok, now = answer
        reset_requests = (oldest_req + _WINDOW_MICROS - now) / _MICROS if oldest_req >= 0 else 0.0
        reset_tokens = (oldest_tok + _WINDOW_MICROS - now) / _MICROS if oldest_tok >= 0 else 0.0
        if not allowed:
            retry = max(reset_requests if over_requests else 0.0, reset_tokens if over_tokens else 0.0)
            reason = "requests per minute" if over_requests else "tokens per minute"
            return self._quota(False, count, tokens, reset_requests, reset_tokens, retry, reason), None
        quota = self._quota(
            True, count, tokens, reset_requests or WINDOW_SECONDS, reset_tokens or WINDOW_SECONDS, 0.0
        )
        return quota, SharedCharge(now / _MICROS, estimated_tokens, charge_id)

    async def peek(self) -> Quota:
        """The shared window as it stands, recording nothing (for a 429 another fault simulates)."""
        answer = await self._call("peek")
        if answer is None:
            return self.local.peek()
        _, _, _, count, tokens, oldest_req, oldest_tok, now = answer
        reset_requests = (oldest_req + _WINDOW_MICROS - now) / _MICROS if oldest_req >= 0 else 0.0
        reset_tokens = (oldest_tok + _WINDOW_MICROS - now) / _MICROS if oldest_tok >= 0 else 0.0
        return self._quota(True, count, tokens, reset_requests, reset_tokens, 0.0)

    def correct(self, charge: TokenCharge, actual_tokens: int) -> None:
        """Replace the estimate with the real usage: in Redis in the background (the log writer calls
        this and must not wait), or in the local window if that is where the charge was recorded."""
        if not isinstance(charge, SharedCharge):
            self.local.correct(charge, actual_tokens)
            return
        charge.tokens = actual_tokens
        task = asyncio.get_running_loop().create_task(self._correct(charge.id, actual_tokens))
        self._corrections.add(task)
        task.add_done_callback(self._corrections.discard)

    async def _correct(self, charge_id: str, actual_tokens: int) -> None:
        if await self._call("correct", charge_id=charge_id, actual=actual_tokens) is None:
            logger.debug("a token correction was lost: Redis is unavailable")

    async def settle(self) -> None:
        """Wait for the corrections under way (tests; a proxy stopping)."""
        while self._corrections:
            await asyncio.gather(*self._corrections, return_exceptions=True)

    def _quota(
        self,
        allowed: bool,
        count: int,
        tokens: int,
        reset_requests: float,
        reset_tokens: float,
        retry: float,
        reason: str = "",
    ) -> Quota:
        return Quota(
            allowed=allowed,
            limit_requests=self.rpm,
            remaining_requests=None if self.rpm is None else max(0, self.rpm - count),
            reset_requests_s=max(0.0, reset_requests),
            limit_tokens=self.tpm,
            remaining_tokens=None if self.tpm is None else max(0, self.tpm - tokens),
            reset_tokens_s=max(0.0, reset_tokens),
            retry_after_s=max(0.0, retry),
            reason=reason,
        )
