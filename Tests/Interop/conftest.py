"""Fixtures for Warden's interoperability tests (helpers live in interop.py).

The binary is `$WARDEN_BINARY`, else `<repo>/.build/debug/warden`; nothing here builds it.
Each installation has its own temporary directory (working directory, database,
key-encryption key); every server listens on 127.0.0.1 only and is stopped with
SIGTERM at teardown, which must end it with exit status 0 within 10 seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from interop import Server, Warden, finish
from postgres import PostgresCluster


@pytest.fixture
def warden(tmp_path: Path) -> Iterator[Warden]:
    """A fresh installation for one test; servers it starts are stopped (and checked) at the end."""
    installation = Warden(tmp_path / "warden")
    yield installation
    finish(installation)


@pytest.fixture
def server(warden: Warden) -> Server:
    """A server of the per-test installation `warden`."""
    return warden.start_server()


@pytest.fixture(scope="module")
def module_warden(tmp_path_factory) -> Iterator[Warden]:
    """An installation shared by one test module."""
    installation = Warden(tmp_path_factory.mktemp("warden"))
    yield installation
    finish(installation)


@pytest.fixture(scope="module")
def module_server(module_warden: Warden) -> Server:
    """A server shared by one test module (tests must not change its keys)."""
    return module_warden.start_server()


@pytest.fixture(scope="module")
def short_lived_warden(tmp_path_factory) -> Iterator[Warden]:
    """An installation whose access tokens live 2 seconds (expiry tests only)."""
    installation = Warden(tmp_path_factory.mktemp("short"), config={"access_token_lifetime": 2})
    yield installation
    finish(installation)


@pytest.fixture(scope="module")
def short_lived_server(short_lived_warden: Warden) -> Server:
    return short_lived_warden.start_server()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The PostgreSQL cluster: $WARDEN_TEST_POSTGRES_URL (make test sets it), else a throwaway
    cluster started for this pytest session (Tests/Support/postgres-cluster.sh) and stopped after."""
    cluster = PostgresCluster.from_environment_or_start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> Iterator[str]:
    """The URL of a fresh, empty database of its own for one test, dropped afterwards.
    (Request it before any installation using it, so that its servers stop first.)"""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)
