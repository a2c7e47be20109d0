"""Google Vertex AI and the Gemini Developer API. Filled in by the providers issue."""

from __future__ import annotations

from rubberduck.providers.base import ProviderAdapter


class VertexAdapter(ProviderAdapter):
    name = "vertex"
    label = "Google Vertex AI"
    default_upstream = None
