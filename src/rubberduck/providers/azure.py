"""Azure OpenAI (https://{resource}.openai.azure.com). Filled in by the providers issue."""

from __future__ import annotations

from rubberduck.providers.openai import OpenAIAdapter


class AzureAdapter(OpenAIAdapter):
    name = "azure"
    label = "Azure OpenAI"
    default_upstream = None
    upstream_required = True
