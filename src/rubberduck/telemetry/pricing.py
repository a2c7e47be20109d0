"""Token prices from a data file, with per-user overrides, and the cost of one request."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rubberduck.providers.base import Usage

PRICING_FILE = Path(__file__).with_name("pricing.json")
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3}|-latest|-preview.*|-exp.*)$")


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached: float | None  # None: cached input is billed as ordinary input

    @classmethod
    def parse(cls, value: dict[str, Any]) -> Price:
        cached = value.get("cached")
        return cls(float(value["input"]), float(value["output"]), None if cached is None else float(cached))


def normalise_model(model: str) -> str:
    """`us.anthropic.claude-3-haiku-20240307-v1:0` -> `claude-3-haiku`; `gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = re.sub(r"^(us|eu|apac|global)\.", "", name)
    name = re.sub(r"^(anthropic|openai|meta|amazon|mistral|cohere)\.", "", name)
    name = re.sub(r"-v\d+(:\d+)?$", "", name)
    previous = None
    while previous != name:
        previous, name = name, _DATE_SUFFIX.sub("", name)
    return name


class PricingTable:
    def __init__(self, data: dict[str, Any]) -> None:
        self.as_of: str = data.get("as_of", "")
        self.prices = {name: Price.parse(value) for name, value in data["models"].items()}
        # Per-user overrides, kept in memory and pushed in by the pricing API (via set_overrides).
        self.overrides: dict[str, dict[str, Price]] = {}
        # Model-name matching runs regexes: remember each (model, user) answer until prices change.
        self._lookups: dict[tuple[str, str | None], Price | None] = {}
        self.version = 0  # bumped whenever prices change, so memoised costs know they are stale

    @classmethod
    def load(cls, path: Path = PRICING_FILE) -> PricingTable:
        return cls(json.loads(path.read_text()))

    def set_overrides(self, user_id: str, prices: dict[str, Price]) -> None:
        self.overrides[user_id] = prices
        self._lookups.clear()
        self.version += 1

    def lookup(self, model: str | None, user_id: str | None = None) -> Price | None:
        if not model:
            return None
        key = (model, user_id)
        if key not in self._lookups:
            if len(self._lookups) > 10_000:
                self._lookups.clear()
            self._lookups[key] = self._find(model, user_id)
        return self._lookups[key]

    def _find(self, model: str, user_id: str | None) -> Price | None:
        tables = [self.overrides.get(user_id or "", {}), self.prices]
        for candidate in (model, model.lower(), normalise_model(model)):
            for table in tables:
                if candidate in table:
                    return table[candidate]
        # Longest known prefix: `gpt-4o-mini-search` is priced as `gpt-4o-mini`, never as `gpt-4o`.
        name = normalise_model(model)
        for table in tables:
            matches = [known for known in table if name.startswith(known + "-")]
            if matches:
                return table[max(matches, key=len)]
        return None

    def cost(self, usage: Usage | None, user_id: str | None = None) -> float | None:
        """USD for the usage, or None when the model or its token counts are unknown (never a made-up 0)."""
        if usage is None or usage.input_tokens is None:
            return None
        price = self.lookup(usage.model, user_id)
        if price is None:
            return None
        cached = min(usage.cached_tokens or 0, usage.input_tokens)
        cached_rate = price.cached if price.cached is not None else price.input
        total = (
            (usage.input_tokens - cached) * price.input
            + cached * cached_rate
            + (usage.output_tokens or 0) * price.output
        )
        return round(total / 1_000_000, 10)
