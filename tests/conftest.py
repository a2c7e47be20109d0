from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.aws import aws_env
from tests.support import Api, RubberduckProcess, create_user_cli, proxy_port_block, stop_test_engines

_emails = itertools.count()
SUPERUSER_EMAIL = "root@example.com"


@pytest.fixture(scope="session", autouse=True)
def _throwaway_engines() -> Iterator[None]:
    """With RUBBERDUCK_TEST_DATABASE=postgres, servers get databases on a throw-away Postgres: end it last."""
    yield
    stop_test_engines()


@pytest.fixture(scope="session")
def aws_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared server's made-up AWS files (see tests.fakes.aws.aws_env)."""
    return tmp_path_factory.mktemp("aws")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, aws_dir: Path) -> Iterator[RubberduckProcess]:
    """One real Rubberduck server shared by the tests that do not restart it."""
    # Made-up AWS credentials (env + named profiles) for the Bedrock proxy to sign with.
    env = aws_env(aws_dir)
    # Registration open, no e-mail verification (RubberduckProcess's test defaults). The superuser
    # exists before anyone registers, or the first test user would become superuser.
    process = RubberduckProcess(
        tmp_path_factory.mktemp("rubberduck-shared"), first_proxy_port=proxy_port_block(shared=True), env=env
    )
    create_user_cli(process.data_dir, SUPERUSER_EMAIL, superuser=True)
    yield process.start()
    process.stop()


@pytest.fixture
def api(server: RubberduckProcess) -> Api:
    """A fresh user on the shared server, so tests never see each other's proxies."""
    return Api.new_user(server.url, f"user{next(_emails)}@example.com")


@pytest.fixture(scope="session")
def superuser_api(server: RubberduckProcess) -> Api:
    """A superuser made the documented way: `rubberduck user create --superuser` on the data dir."""
    return Api.login(server.url, SUPERUSER_EMAIL)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
