"""Azure OpenAI (https://{resource}.openai.azure.com).

The wire API is OpenAI's with three differences that matter to a proxy:
- paths live under /openai: `/openai/deployments/{deployment}/chat/completions?api-version=...` (the
  deployment replaces the model), `/openai/{op}?api-version=...` for everything else, and the newer
  `/openai/v1/{op}` routes (no api-version, model in the body). Nothing gets a /v1 prefix added.
- the client authenticates with `api-key: K` or `Authorization: Bearer <key or Entra ID token>`; both are
  forwarded untouched and neither enters the cache key (only key_headers would).
- errors are `{"error": {"code", "message", ...}}`: the API gateway in front of the models answers
  with just code + message (recorded APIM 401: code "401"), the models with OpenAI's shape.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote

import orjson

from rubberduck.providers.base import (
    ErrorReply,
    ProviderAdapter,
    RequestView,
    Route,
    json_reply,
    retry_after_headers,
)
from rubberduck.providers.openai import OpenAIAdapter

# What Azure says for each error kind: (code, type). code None -> the HTTP status as a string, which is
# what the gateway sends when it has no named code (recorded: 401 "401"; seen in the wild: 429 "429").
# type None -> the gateway's shape, code + message only; a type -> the model service's OpenAI shape.
_AZURE_ERRORS: dict[str, tuple[str | None, str | None]] = {
    # The request reached the model service, which answers like OpenAI (code null, param null).
    "invalid_request": (None, "invalid_request_error"),
    "authentication": (None, None),
    # Entra ID token without the RBAC data action.
    "permission": ("PermissionDenied", None),
    # Recorded 404 (chat_completions_nonstream_and_404.yaml): type + code + message, no param.
    "not_found": ("DeploymentNotFound", "invalid_request_error"),
    "request_too_large": (None, None),  # unverified: no recorded Azure 413
    "rate_limit": (None, None),
    "server_error": (None, "server_error"),
    "bad_gateway": (None, None),
    "unavailable": (None, None),
    # Azure's gateway timeout (a 408) says {"code": "Timeout", "message": "The operation was timeout."}.
    "request_timeout": ("Timeout", None),
    "timeout": ("Timeout", None),
    "overloaded": (None, None),
    # Rubberduck's own: the model service's OpenAI shape, so the openai SDK reads type and code.
    "replay_miss": ("replay_miss", "replay_miss"),
}

# Path segment naming the operation (after /deployments/{name}/, /v1/ or /openai/) -> log name.
_OPERATIONS = {
    "chat": "chat",
    "completions": "completions",
    "embeddings": "embeddings",
    "responses": "responses",
    "audio": "audio",
    "images": "images",
    "models": "models",
    "files": "files",
    "batches": "batches",
    "fine_tuning": "fine_tuning",
    "assistants": "assistants",
    "threads": "threads",
    "vector_stores": "vector_stores",
    "realtime": "realtime",
}


def azure_error_body(status: int, kind: str, message: str) -> bytes:
    # A kind not listed (conflict, unprocessable, ...) gets the gateway's generic shape.
    code, error_type = _AZURE_ERRORS.get(kind, (None, None))
    error: dict[str, Any]
    if error_type is None:
        error = {"code": code or str(status), "message": message}
    elif kind == "not_found":
        error = {"type": error_type, "code": code, "message": message}
    else:
        error = {"message": message, "type": error_type, "param": None, "code": code}
    return orjson.dumps({"error": error})


def azure_route(path: str) -> tuple[str | None, str | None]:
    """(operation, deployment) for an Azure path; deployment is None where the body names the model.

    Empty segments are skipped, so `//openai/...` (an endpoint configured with a trailing slash, as
    in a recorded request) is understood too; the path itself is forwarded as it came.
    """
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] != "openai":
        return None, None
    rest = parts[1:]
    deployment = None
    if len(rest) >= 2 and rest[0] == "deployments":
        deployment, rest = unquote(rest[1]), rest[2:]
        if rest and rest[0] == "extensions":  # the older "on your data" chat route
            rest = rest[1:]
    elif rest and rest[0] == "v1":
        rest = rest[1:]
    return (_OPERATIONS.get(rest[0]) if rest else None), deployment


class AzureAdapter(OpenAIAdapter):
    name = "azure"
    label = "Azure OpenAI"
    default_upstream = None
    upstream_required = True
    # Azure's API gateway (APIM) accepts a `subscription-key` query parameter, and some setups an
    # `api-key` one: credentials, so never part of the cache key.
    secret_query_params = frozenset({"api-key", "subscription-key"})
    snippet = (
        "from openai import AzureOpenAI\n\n"
        'client = AzureOpenAI(azure_endpoint="{proxy_url}", api_version="2024-10-21", api_key="...")\n'
        "# model is your deployment name\n"
        'client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hi"}}])\n'
    )

    def route(self, request: RequestView) -> Route:
        # The base route, not OpenAI's: the path goes upstream exactly as the client sent it.
        route = ProviderAdapter.route(self, request)
        operation, deployment = azure_route(request.path)
        route.operation = operation
        if deployment is not None:
            route.model = deployment
        return route

    def error(self, status: int, kind: str, message: str, retry_after: float | None = None) -> ErrorReply:
        # Every recorded Azure error carries apim-request-id (its only request id on gateway errors).
        extra = [(b"apim-request-id", str(uuid.uuid4()).encode()), *retry_after_headers(retry_after)]
        if retry_after is not None:  # Azure sends both; the openai SDK prefers the milliseconds
            extra.append((b"retry-after-ms", str(int(retry_after * 1000)).encode()))
        return json_reply(status, azure_error_body(status, kind, message), extra)
