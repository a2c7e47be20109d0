"""The Gemini Developer API (generativelanguage.googleapis.com), as google-genai calls it with an API key."""

from __future__ import annotations

from rubberduck.providers.google_common import GoogleAdapter


class GeminiAdapter(GoogleAdapter):
    name = "gemini"
    label = "Google Gemini API"
    default_upstream = "https://generativelanguage.googleapis.com"
    # The key travels in `x-goog-api-key` (never in the cache key) or as `?key=`, which the shared
    # secret_query_params keeps out of the cache key.
    snippet = (
        "from google import genai\n"
        "from google.genai import types\n\n"
        'client = genai.Client(api_key="AIza...",\n'
        '                      http_options=types.HttpOptions(base_url="{proxy_url}"))\n'
        'response = client.models.generate_content(model="{model}", contents="Hi")\n'
        "print(response.text)\n"
    )
