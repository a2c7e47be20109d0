from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.aws import aws_env
from tests.support import PASSWORD, Api, RubberduckProcess

_emails = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RubberduckProcess]:
    """One real Rubberduck server shared by the tests that do not restart it."""
    # Made-up AWS credentials (env + a named profile) for the Bedrock proxy to sign with.
    env = aws_env(tmp_path_factory.mktemp("aws"))
    process = RubberduckProcess(tmp_path_factory.mktemp("rubberduck-shared"), env=env).start()
    yield process
    process.stop()


@pytest.fixture
def api(server: RubberduckProcess) -> Api:
    """A fresh user on the shared server, so tests never see each other's proxies."""
    return Api.new_user(server.url, f"user{next(_emails)}@example.com")


@pytest.fixture(scope="session")
def superuser_api(server: RubberduckProcess) -> Api:
    """A superuser made the documented way: `rubberduck user create --superuser` on the data dir."""
    email = "root@example.com"
    subprocess.run(
        [sys.executable, "-m", "rubberduck", "user", "create", "--email", email, "--password", PASSWORD,
         "--superuser", "--data-dir", str(server.data_dir)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Api.login(server.url, email)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
