"""Fixtures for the two-node tests: one throw-away Postgres and Redis per xdist worker, two nodes on them.

The engine-failure tests stop and restart engines, so they build their own (test_engine_failure.py);
everything here is shared by the tests that leave the engines alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.cluster.nodes import CHAT, Cluster, completion, start_cluster
from tests.engines import PostgresServer, RedisServer, engines_available
from tests.fakes.upstream import FakeRequest, FakeResponse, FakeUpstream
from tests.support import Api


@pytest.fixture(scope="session")
def engines() -> Iterator[tuple[PostgresServer, RedisServer]]:
    missing = engines_available()
    if missing:
        pytest.skip(f"the two-node tests need real engines; missing: {missing}")
    postgres = PostgresServer().start()
    try:
        redis = RedisServer().start()
    except BaseException:
        postgres.destroy()
        raise
    yield postgres, redis
    redis.destroy()
    postgres.destroy()


@pytest.fixture(scope="session")
def cluster(
    engines: tuple[PostgresServer, RedisServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Nodes A (proxies on 127.0.0.1) and B (127.0.0.2): one database, one Redis, one proxy port range."""
    postgres, redis = engines
    started = start_cluster(postgres, redis, tmp_path_factory.mktemp("cluster"))
    yield started
    started.close()


@pytest.fixture
def users(cluster: Cluster) -> tuple[Api, Api]:
    """One fresh user: (its API on node A, the same login token on node B)."""
    return cluster.users()


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A fake OpenAI answering `answer 1`, `answer 2`, …: each upstream call is told apart by its text."""
    upstream = FakeUpstream()
    calls = itertools.count(1)

    async def answer(request: FakeRequest) -> FakeResponse:
        model = str(request.json().get("model", "gpt-4o-mini"))
        return FakeResponse.json(200, completion(f"answer {next(calls)}", model))

    upstream.add_handler("POST", CHAT, answer)
    with upstream:
        yield upstream


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the shared pair of nodes run on one xdist worker (`--dist loadgroup`): one set of
    engines and nodes to start instead of one per worker."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("shared-cluster"))
