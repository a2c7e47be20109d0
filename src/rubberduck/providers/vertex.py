"""Google Vertex AI (`{location}-aiplatform.googleapis.com`): the upstream host follows the request's location."""

from __future__ import annotations

import re

from rubberduck.providers.base import RequestView, UpstreamSetupError
from rubberduck.providers.google_common import GoogleAdapter, resource_segments

# A location id becomes part of a host name, so only a plain DNS label is accepted: anything else
# (a dot, a port, an "@") could point the proxy at a host of the client's choosing.
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]")
# The multi-region locations google-genai sends to aiplatform.{us,eu}.rep.googleapis.com.
_MULTI_REGIONS = frozenset({"us", "eu"})
GLOBAL_UPSTREAM = "https://aiplatform.googleapis.com"


def location_of(path: str) -> str | None:
    """The `{l}` of `/v1/projects/{p}/locations/{l}/...` (None when the path names no location)."""
    segments = resource_segments(path)
    for index, segment in enumerate(segments[:-1]):
        if segment == "locations":
            location = segments[index + 1]
            # Only the last segment carries a `:method` (GET .../locations/l:method); elsewhere a colon
            # stays in, and the location is refused.
            return location.split(":", 1)[0] if index + 2 == len(segments) else location
    return None


def upstream_for_location(location: str) -> str:
    """The Vertex endpoint google-genai itself would use for this location."""
    if not _LOCATION.fullmatch(location):
        raise UpstreamSetupError(400, "invalid_request", f"Invalid location: {location[:64]!r}.")
    if location == "global":
        return GLOBAL_UPSTREAM
    if location in _MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexAdapter(GoogleAdapter):
    name = "vertex"
    label = "Google Vertex AI"
    # No single default: each request goes to the regional endpoint of the location in its path.
    default_upstream = None
    upstream_required = False
    snippet = (
        "from google import genai\n"
        "from google.genai import types\n\n"
        'client = genai.Client(vertexai=True, project="my-project", location="us-central1",\n'
        '                      http_options=types.HttpOptions(base_url="{proxy_url}"))\n'
        'response = client.models.generate_content(model="{model}", contents="Hi")\n'
        "print(response.text)\n"
    )

    def upstream_base(self, upstream_url: str | None, request: RequestView) -> str:
        if upstream_url:
            return upstream_url.rstrip("/")
        location = location_of(request.path)
        if location is not None:
            return upstream_for_location(location)
        segments = resource_segments(request.path)
        if segments and segments[0] == "publishers":
            # Express mode (an API key, no project): google-genai sends /v1beta1/publishers/... to the
            # global endpoint.
            return GLOBAL_UPSTREAM
        raise UpstreamSetupError(
            400,
            "invalid_request",
            "Rubberduck cannot tell the Vertex AI endpoint: the path names no location "
            "(/projects/{project}/locations/{location}/...) and the proxy has no upstream_url.",
        )
