"""deploy/: the team deployment's files agree with each other (no Docker engine runs here to start them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def nodes() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose()["services"].items() if name.startswith("node-")}


def test_every_node_shares_the_database_the_redis_and_the_secret() -> None:
    found = nodes()
    assert len(found) >= 2
    shared = {"RUBBERDUCK_DATABASE_URL", "RUBBERDUCK_REDIS_URL", "RUBBERDUCK_SECRET"}
    values = [{name: service["environment"][name] for name in shared} for service in found.values()]
    assert all(value == values[0] for value in values)
    assert values[0]["RUBBERDUCK_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert values[0]["RUBBERDUCK_REDIS_URL"].startswith("redis://redis:")
    names = [service["environment"]["RUBBERDUCK_NODE_NAME"] for service in found.values()]
    assert len(set(names)) == len(names)


def test_the_load_balancer_sends_the_control_port_and_every_proxy_port_to_every_node() -> None:
    config = (DEPLOY / "haproxy.cfg").read_text()
    backends = re.split(r"^backend ", config, flags=re.M)[1:]
    assert len(backends) == 2
    for backend in backends:
        servers = set(re.findall(r"^\s+server (\S+) ", backend, flags=re.M))
        assert servers == set(nodes())
    assert re.search(r"^\s+bind :9000$", config, flags=re.M)
    proxy_range = re.search(r"^\s+bind :(\d+)-(\d+)$", config, flags=re.M)
    assert proxy_range is not None
    published = compose()["services"]["lb"]["ports"]
    assert f"{proxy_range[1]}-{proxy_range[2]}:{proxy_range[1]}-{proxy_range[2]}" in published


def test_the_image_installs_the_engines_drivers_and_binds_every_interface() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "'.[postgres,redis]'" in dockerfile
    assert "RUBBERDUCK_PROXY_HOST=0.0.0.0" in dockerfile and "RUBBERDUCK_HOST=0.0.0.0" in dockerfile
