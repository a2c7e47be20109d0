"""The control plane serves the built web UI at `/` without ever shadowing the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rubberduck.api.static import install_web_ui
from rubberduck.app import create_app
from rubberduck.settings import Settings


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A stand-in for `vite build` output: index.html, a hashed asset and a public file."""
    root = tmp_path / "static"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Rubberduck UI</title>")
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the static dir")
    return root


def client_for(directory: Path) -> TestClient:
    app = FastAPI()

    @app.get("/api/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    install_web_ui(app, directory)

    @app.get("/api/late")  # added after the UI: still reachable
    async def late() -> dict[str, str]:
        return {"late": "yes"}

    return TestClient(app)


def test_index_and_client_side_routes_get_the_app(built: Path) -> None:
    client = client_for(built)
    for path in ("/", "/proxies", "/proxies/3", "/logs?proxy_id=2", "/verify-email?token=abc"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Rubberduck UI" in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"  # a new build is picked up at once


def test_hashed_assets_are_cached_for_good_and_files_are_served(built: Path) -> None:
    client = client_for(built)
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.text == "console.log('app')"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/favicon.svg").text == "<svg/>"
    assert client.head("/").status_code == 200


def test_missing_files_are_404_not_the_app(built: Path) -> None:
    client = client_for(built)
    assert client.get("/assets/index-old.js").status_code == 404
    assert client.get("/robots.txt").status_code == 404
    escape = client.get("/%2e%2e/secret.txt")  # decoded to ../secret.txt on the server side
    assert escape.status_code == 404
    assert "outside" not in escape.text


def test_api_paths_never_fall_back_to_the_app(built: Path) -> None:
    client = client_for(built)
    assert client.get("/api/ping").json() == {"pong": "yes"}
    assert client.get("/api/late").json() == {"late": "yes"}
    assert client.post("/proxies").status_code in (404, 405)  # only GET and HEAD get the app
    for path in ("/api/nope", "/api", "/healthz/x", "/docs/x", "/metrics"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}, path


def test_without_a_build_the_root_explains_how_to_get_one(tmp_path: Path) -> None:
    client = client_for(tmp_path / "not-built")
    response = client.get("/")
    assert response.status_code == 200
    assert "web UI has not been built" in response.text
    assert 'href="/docs"' in response.text
    assert client.get("/proxies").status_code == 404
    assert client.get("/api/ping").json() == {"pong": "yes"}


def test_the_real_app_keeps_its_api_docs_and_schema(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path, secret="static-test")))
    assert client.get("/openapi.json").json()["info"]["title"] == "Rubberduck"
    assert "swagger" in client.get("/docs").text.lower()
    nope = client.get("/api/definitely-not-a-route")
    assert nope.status_code == 404
    assert nope.json() == {"detail": "Not Found"}
    assert client.get("/").headers["content-type"].startswith("text/html")
