"""Fixtures for storage tests: an S3 server on loopback, a fault proxy, databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.s3_fixtures import *  # noqa: F401,F403  (moto_s3, s3_bucket, s3_client, fault_proxy)

PG_URL = os.environ.get("FACTORY_TEST_DATABASE_URL", "")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'factory.db'}"


def _pg_schema_url() -> Iterator[str]:
    """A dedicated schema in the PostgreSQL test database, dropped afterwards: tests of other
    packages use the same database and must not see (or evict) these rows."""
    import psycopg
    from sqlalchemy.engine import make_url

    from storage import db as dbmod

    schema = f"cf_storage_{uuid.uuid4().hex[:10]}"
    raw = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = str(make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
              .render_as_string(hide_password=False))
    try:
        yield url
    finally:
        cached = dbmod._databases.pop(url, None)
        if cached is not None:
            cached.engine.dispose()
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """SQLite always; PostgreSQL too when FACTORY_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'factory.db'}"
        return
    if not PG_URL:
        pytest.skip("FACTORY_TEST_DATABASE_URL is not set")
    yield from _pg_schema_url()
