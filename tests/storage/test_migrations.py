"""Migrations on an empty database: every table, every head, idempotent on restart."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage import db as dbmod
from storage.db import MIGRATIONS, alembic_config, open_database, table_names
from storage.models import Base

RUN_TABLES = {"campaigns", "runs", "shots", "renders", "clips", "publications",
              "moderation_decisions"}


def test_migrations_create_every_table_on_an_empty_database(database_url):
    db = open_database(database_url)
    tables = table_names(db)
    assert RUN_TABLES <= tables
    # Every model the code declares has its table: no model without a migration.
    assert set(Base.metadata.tables) <= tables
    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    with db.engine.connect() as conn:
        applied = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    assert applied == heads
    assert (MIGRATIONS / "versions" / "0001_run_records.py").is_file()


def test_start_up_migration_is_idempotent(database_url):
    first = open_database(database_url)
    dbmod._databases.pop(database_url)  # a second process starting on the same database
    second = open_database(database_url)
    assert table_names(second) == table_names(first)


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
