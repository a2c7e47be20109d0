"""The web UI: the built single-page app at `/`, with client-side routes falling back to index.html.

It is installed as the router's fallback (what Starlette runs when no route matched), not as a route:
whatever routers are added, in whatever order, every API route wins. Paths under the API's own
prefixes never fall back to the app: a mistyped API URL gets the usual JSON 404, not a web page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
RESERVED_PREFIXES = ("api", "docs", "redoc", "openapi.json", "healthz", "metrics")
# Vite puts content-hashed files under assets/: a new build has new names, so they never go stale.
IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rubberduck</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1a1f36}
code{background:#f1f3f7;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Rubberduck is running</h1>
<p>The web UI has not been built, so this server offers the API only.</p>
<p>Build the UI with <code>make run</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>),
or use the API directly: its documentation is at <a href="/docs">/docs</a>.</p></body></html>
"""


class WebUI:
    """ASGI fallback: GET/HEAD of a non-API path gets a built file or index.html; the rest goes on."""

    def __init__(self, directory: Path, fallback: ASGIApp) -> None:
        self.root = directory.resolve()
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "/")).lstrip("/")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or path.split("/", 1)[0] in RESERVED_PREFIXES
        ):
            await self.fallback(scope, receive, send)
            return
        response = self.respond(path)
        if response is None:
            await self.fallback(scope, receive, send)
        else:
            await response(scope, receive, send)

    def respond(self, path: str) -> Response | None:
        index = self.root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT) if path == "" else None
        if path:
            candidate = (self.root / path).resolve()
            if candidate.is_relative_to(self.root) and candidate.is_file():
                cache = IMMUTABLE if path.startswith("assets/") else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/") or "." in path.rsplit("/", 1)[-1]:
                return None  # a missing file (an old hashed asset, a typo) is a 404, not the app's HTML
        # A client-side route: the app decides what to show. no-cache, so a new build shows at once.
        return FileResponse(index, headers={"Cache-Control": "no-cache"}, media_type="text/html")


def install_web_ui(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    app.router.default = WebUI(directory, app.router.default)
