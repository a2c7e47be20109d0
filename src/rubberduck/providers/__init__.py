"""The provider registry: names map to adapter instances, explicitly."""

from __future__ import annotations

from rubberduck.providers.anthropic import AnthropicAdapter
from rubberduck.providers.base import ProviderAdapter
from rubberduck.providers.openai import OpenAIAdapter, OpenAICompatibleAdapter


def build_registry() -> dict[str, ProviderAdapter]:
    adapters: list[ProviderAdapter] = [OpenAIAdapter(), AnthropicAdapter(), OpenAICompatibleAdapter()]
    return {adapter.name: adapter for adapter in adapters}


PROVIDERS: dict[str, ProviderAdapter] = build_registry()
