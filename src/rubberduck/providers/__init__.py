"""The provider registry: names map to adapter instances, explicitly."""

from __future__ import annotations

from rubberduck.providers.anthropic import AnthropicAdapter
from rubberduck.providers.azure import AzureAdapter
from rubberduck.providers.base import ProviderAdapter
from rubberduck.providers.bedrock import BedrockAdapter
from rubberduck.providers.gemini import GeminiAdapter
from rubberduck.providers.openai import OpenAIAdapter, OpenAICompatibleAdapter
from rubberduck.providers.vertex import VertexAdapter


def build_registry() -> dict[str, ProviderAdapter]:
    adapters: list[ProviderAdapter] = [
        OpenAIAdapter(),
        AnthropicAdapter(),
        AzureAdapter(),
        BedrockAdapter(),
        VertexAdapter(),
        GeminiAdapter(),
        OpenAICompatibleAdapter(),
    ]
    return {adapter.name: adapter for adapter in adapters}
