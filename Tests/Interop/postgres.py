"""PostgreSQL for the interop tests.

The cluster is `$WARDEN_TEST_POSTGRES_URL` (an admin URL, e.g. what `make test` sets through
Tests/Support/with-postgres.sh), else a throwaway one started with
Tests/Support/postgres-cluster.sh for the pytest session and stopped at its end.
Every test gets a database of its own (`PostgresCluster.create_database`), created here and
dropped afterwards; Warden itself never creates databases.

psycopg is imported lazily, so that the SQLite-only suites need nothing of this module.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO_ROOT / "Tests" / "Support" / "postgres-cluster.sh"
ADMIN_URL_VARIABLE = "WARDEN_TEST_POSTGRES_URL"


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgres://", "postgresql://"))


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead (user, host, port and query kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def connect(url: str, *, autocommit: bool = True):
    import psycopg

    return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Runs one statement in a read-only transaction (psycopg placeholders: %s) and returns its rows."""
    with connect(url, autocommit=False) as connection:
        connection.read_only = True
        with connection.cursor() as cursor:
            cursor.execute(sql, params or None)
            rows = cursor.fetchall() if cursor.description is not None else []
        connection.rollback()
        return rows


def tables(url: str) -> list[str]:
    """Every user table of the database, schema-qualified and quoted, sorted."""
    rows = query(url, """
        SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1""")
    return [row[0] for row in rows]


def database_snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Per table: (row count, md5 of all its rows as text in a stable order). Equal snapshots
    mean equal contents, which is what "changes nothing" is checked with on PostgreSQL."""
    snapshot = {}
    for table in tables(url):
        (count, digest), = query(
            url, f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t")
        snapshot[table] = (count, digest)
    return snapshot


class PostgresCluster:
    """A PostgreSQL cluster reachable through an admin URL; `directory` is set when this
    process started it (and so stops it)."""

    def __init__(self, admin_url: str, directory: Path | None = None):
        assert is_postgres_url(admin_url), f"not a PostgreSQL URL: {admin_url!r}"
        self.admin_url = admin_url
        self.directory = directory
        self.created: list[str] = []

    @classmethod
    def from_environment_or_start(cls) -> "PostgresCluster":
        url = os.environ.get(ADMIN_URL_VARIABLE, "").strip()
        if url:
            return cls(url)
        return cls.start()

    @classmethod
    def start(cls) -> "PostgresCluster":
        # Directly under /tmp: the postgres system user must reach it (pytest's own temporary
        # directories are private to root), and a unix socket path must stay short.
        directory = Path(tempfile.mkdtemp(prefix="warden-pg.", dir="/tmp"))
        result = subprocess.run(
            [str(CLUSTER_SCRIPT), "start", str(directory)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"{CLUSTER_SCRIPT.name} start failed ({result.returncode}): {result.stderr.strip()}")
        lines = result.stdout.strip().splitlines()
        return cls(lines[-1], directory)

    def stop(self) -> None:
        if self.directory is None:
            return
        subprocess.run([str(CLUSTER_SCRIPT), "stop", str(self.directory)], capture_output=True, timeout=120)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def create_database(self, prefix: str = "warden") -> str:
        """A fresh, empty database with a unique name; returns its URL."""
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,30}", prefix), prefix
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(6)}"
        with connect(self.admin_url) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        """Drops a database made by `create_database`, disconnecting whoever is still on it."""
        name = urlsplit(url).path.lstrip("/")
        with connect(self.admin_url) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def connection_count(self, url: str) -> int:
        name = urlsplit(url).path.lstrip("/")
        (count,), = query(self.admin_url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
        return count
