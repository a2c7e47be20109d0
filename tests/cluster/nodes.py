"""Rubberduck nodes sharing one Postgres and one Redis, as a team deployment runs them, on one machine.

Every node binds its proxies on the same ports, each on its own loopback address (127.0.0.1, 127.0.0.2,
…), which is what RUBBERDUCK_PROXY_HOST is for; their control planes listen on distinct ports.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import openai

from tests.engines import PostgresServer, RedisServer
from tests.support import Api, RubberduckProcess, proxy_port_block

T = TypeVar("T")
_emails = itertools.count(1)
CHAT = "/v1/chat/completions"


@dataclass
class Node:
    process: RubberduckProcess
    host: str  # where this node's proxies listen

    @property
    def url(self) -> str:
        return self.process.url

    def proxy_url(self, proxy: dict[str, Any]) -> str:
        return f"http://{self.host}:{proxy['port']}"

    def openai(self, proxy: dict[str, Any], **headers: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.proxy_url(proxy) + "/v1",
            api_key="sk-test",
            max_retries=0,
            timeout=10,
            default_headers=headers or None,
        )

    def anthropic(self, proxy: dict[str, Any]) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            base_url=self.proxy_url(proxy), api_key="sk-ant", max_retries=0, timeout=10
        )

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/healthz", timeout=5).json())

    def serves(self, proxy: dict[str, Any]) -> bool:
        """The proxy's port accepts connections on this node (a bare connect: no request, no log row)."""
        try:
            with socket.create_connection((self.host, proxy["port"]), timeout=0.5):
                return True
        except OSError:
            return False


@dataclass
class Cluster:
    postgres: PostgresServer
    redis: RedisServer
    database_url: str
    root: Path
    first_proxy_port: int = field(default_factory=proxy_port_block)
    nodes: list[Node] = field(default_factory=list)

    @property
    def a(self) -> Node:
        return self.nodes[0]

    @property
    def b(self) -> Node:
        return self.nodes[1]

    def env(self, host: str, name: str) -> dict[str, str]:
        return {
            "RUBBERDUCK_DATABASE_URL": self.database_url,
            "RUBBERDUCK_REDIS_URL": self.redis.url,
            "RUBBERDUCK_SECRET": "",  # empty is unset: the nodes must agree on the one kept in the database
            "RUBBERDUCK_PROXY_HOST": host,
            "RUBBERDUCK_NODE_NAME": name,
        }

    def add_node(self) -> Node:
        """Start one more node (127.0.0.N for the Nth) and wait until it answers /healthz."""
        index = len(self.nodes) + 1
        host, name = f"127.0.0.{index}", f"node-{'abcdefgh'[index - 1]}"
        process = RubberduckProcess(
            self.root / name, first_proxy_port=self.first_proxy_port, env=self.env(host, name)
        )
        try:
            process.start()
        except BaseException:
            process.stop()  # one that never became healthy may still be running
            raise
        node = Node(process, host)
        self.nodes.append(node)
        return node

    def remove_node(self, node: Node) -> None:
        node.process.stop()
        self.nodes.remove(node)

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.process.stop()
        self.nodes.clear()

    def users(self) -> tuple[Api, Api]:
        """A fresh user registered and logged in on node A, and the same token used on node B."""
        email = f"cluster-user{next(_emails)}@example.com"
        on_a = Api.new_user(self.a.url, email)
        return on_a, self.as_user(on_a, self.b)

    def as_user(self, api: Api, node: Node) -> Api:
        """The same login on another node."""
        return Api(node.url, str(api.http.headers["authorization"]).removeprefix("Bearer "))

    def running_proxy(self, api: Api, provider: str, upstream: str, **fields: Any) -> dict[str, Any]:
        """Created and started through `api`, then serving on every node (5 s: a slow push fails here,
        the tests that time the push use their own deadline)."""
        proxy = api.running_proxy(provider, upstream, **fields)
        for node in self.nodes:
            wait_serving(node, proxy, 5)
        return proxy


def start_cluster(postgres: PostgresServer, redis: RedisServer, root: Path, nodes: int = 2) -> Cluster:
    cluster = Cluster(postgres, redis, postgres.database(), root)
    try:
        for _ in range(nodes):
            cluster.add_node()
        # The first account becomes the superuser, who would see every proxy: it must not be a test user.
        Api.new_user(cluster.a.url, f"root-{root.name}@example.com")
    except BaseException:
        cluster.close()
        raise
    return cluster


def eventually(probe: Callable[[], T | None], seconds: float, message: str, every: float = 0.02) -> T:
    """Poll `probe` until it returns something other than None (or fail after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {seconds} s)")
        time.sleep(every)


def wait_serving(node: Node, proxy: dict[str, Any], seconds: float) -> None:
    eventually(lambda: True if node.serves(proxy) else None, seconds, f"proxy not serving on {node.host}")


def completion(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {
        "id": "chatcmpl-cluster",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def status_of(call: Callable[..., Any], *args: Any) -> int:
    """The HTTP status an SDK call (a raw response) ended with, an error included."""
    try:
        return int(call(*args).http_response.status_code)
    except (openai.APIStatusError, anthropic.APIStatusError) as error:
        return int(error.status_code)


def flushed_totals(cluster: Cluster, api: Api, proxy_id: int) -> list[int]:
    """GET /api/metrics writes a node's queued rows and roll-ups first: ask every node once to flush
    them all, then read the request total through every node."""
    for node in cluster.nodes:
        cluster.as_user(api, node).http.get("/api/metrics", params={"proxy_id": proxy_id}).raise_for_status()
    return [
        cluster.as_user(api, node)
        .http.get("/api/metrics", params={"proxy_id": proxy_id})
        .json()["totals"]["requests"]
        for node in cluster.nodes
    ]


def exported(api: Api, proxy_id: int) -> list[dict[str, Any]]:
    response = api.http.get("/api/logs/export", params={"format": "json", "proxy_id": proxy_id})
    assert response.status_code == 200, response.text
    return list(json.loads(response.content))


def ask(node: Node, proxy: dict[str, Any], content: str = "Hi") -> tuple[str, str]:
    """(x-rubberduck-cache, the answer's text) through the openai SDK on `node`."""
    raw = node.openai(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )
    return raw.headers["x-rubberduck-cache"], raw.parse().choices[0].message.content or ""
