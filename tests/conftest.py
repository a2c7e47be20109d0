from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Api, RubberduckProcess

_emails = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RubberduckProcess]:
    """One real Rubberduck server shared by the tests that do not restart it."""
    process = RubberduckProcess(tmp_path_factory.mktemp("rubberduck-shared")).start()
    yield process
    process.stop()


@pytest.fixture
def api(server: RubberduckProcess) -> Api:
    """A fresh user on the shared server, so tests never see each other's proxies."""
    return Api.new_user(server.url, f"user{next(_emails)}@example.com")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
