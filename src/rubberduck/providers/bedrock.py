"""AWS Bedrock Runtime. Filled in by the providers issue."""

from __future__ import annotations

from rubberduck.providers.base import ProviderAdapter


class BedrockAdapter(ProviderAdapter):
    name = "bedrock"
    label = "AWS Bedrock"
    default_upstream = None
