"""The Gemini Developer API (generativelanguage.googleapis.com). Filled in by the providers issue."""

from __future__ import annotations

from rubberduck.providers.base import ProviderAdapter


class GeminiAdapter(ProviderAdapter):
    name = "gemini"
    label = "Google Gemini API"
    default_upstream = "https://generativelanguage.googleapis.com"
