"""Token usage and cost for a log row, worked out in the log writer rather than on the request path."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rubberduck.providers.base import ProviderAdapter, Usage
from rubberduck.providers.usage import decode_body
from rubberduck.telemetry.pricing import PricingTable
from rubberduck.telemetry.sqlite_rows import LogRow
from rubberduck.types import RawHeaders

USAGE_MEMO_SIZE = 10_000
_ENRICHED = ("input_tokens", "output_tokens", "cached_tokens", "model", "cost_usd", "saved_usd")


class ResponseBody:
    """What the row needs to find its usage: the bytes the client received and how to read them.

    Built for every request, read only when the writer has no memo of the answer: kept cheap.
    """

    __slots__ = ("adapter", "charge_tokens", "chunks", "headers", "stream")

    def __init__(
        self,
        adapter: ProviderAdapter,
        chunks: tuple[bytes, ...] | list[bytes],
        stream: bool,
        headers: RawHeaders,
        charge_tokens: Callable[[int], None] | None = None,
    ) -> None:
        self.adapter = adapter
        self.chunks = chunks
        self.stream = stream
        self.headers = headers
        # The rate limiter's correction, told the real input + output tokens once they are known.
        self.charge_tokens = charge_tokens

    @property
    def content_encoding(self) -> str | None:
        return next((v.decode("latin-1") for n, v in self.headers if n == b"content-encoding"), None)


class UsageEnricher:
    def __init__(self, pricing: PricingTable) -> None:
        self.pricing = pricing
        # A cache hit replays the same bytes: parse them once per cache key, not once per hit.
        self._memo: OrderedDict[str, Usage | None] = OrderedDict()
        # And price them once per (cache key, owner, model): hits repeat all three.
        self._hit_values: dict[tuple[Any, ...], dict[str, Any]] = {}

    def __call__(self, row: LogRow) -> None:
        body: ResponseBody | None = row.pop("_body", None)
        if body is None or not 200 <= row["status"] < 300:
            return
        hit_key = known = None
        if row["cache_status"] == "hit":
            hit_key = (
                row.get("cache_key"),
                row.get("user_id"),
                row.get("model"),
                self.pricing.version,
            )
            known = self._hit_values.get(hit_key)
        if known is not None:
            row.update(known)
        else:
            self._enrich(row, body)
            if hit_key is not None:
                if len(self._hit_values) > USAGE_MEMO_SIZE:
                    self._hit_values.clear()
                self._hit_values[hit_key] = {name: row.get(name) for name in _ENRICHED}
        if body.charge_tokens is not None and row.get("input_tokens") is not None:
            body.charge_tokens(row["input_tokens"] + (row.get("output_tokens") or 0))

    def _enrich(self, row: LogRow, body: ResponseBody) -> None:
        usage = self._usage(row, body)
        if usage is None:
            return
        row["input_tokens"] = usage.input_tokens
        row["output_tokens"] = usage.output_tokens
        row["cached_tokens"] = usage.cached_tokens
        if not row.get("model"):
            row["model"] = usage.model
        user = str(row["user_id"]) if row.get("user_id") else None
        priced = Usage(
            row.get("model") or usage.model, usage.input_tokens, usage.output_tokens, usage.cached_tokens
        )
        cost = self.pricing.cost(priced, user)
        if cost is None and usage.model and usage.model != priced.model:
            cost = self.pricing.cost(usage, user)  # the response may name a model the request did not
        if row["cache_status"] == "hit":
            row["cost_usd"] = None if cost is None else 0.0
            row["saved_usd"] = cost
        else:
            row["cost_usd"] = cost
            row["saved_usd"] = None if cost is None else 0.0

    def _usage(self, row: LogRow, body: ResponseBody) -> Usage | None:
        key = row.get("cache_key") if row["cache_status"] == "hit" else None
        if key is not None and key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        raw = decode_body(b"".join(body.chunks), body.content_encoding)
        try:
            usage = body.adapter.usage(raw, body.stream) if raw else None
        except Exception:  # a body an adapter cannot read must not cost the row
            usage = None
        if row.get("cache_key"):
            self._memo[row["cache_key"]] = usage
            if len(self._memo) > USAGE_MEMO_SIZE:
                self._memo.popitem(last=False)
        return usage
