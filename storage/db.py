"""The run database: any SQLAlchemy URL, SQLite (WAL) by default, migrated on start-up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from common.errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"

_lock = threading.Lock()
_databases: dict[str, Database] = {}


class Database:
    """An engine plus a session factory for one URL; migrations already applied."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        kwargs: dict = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Several threads (Prefect's task runner) and processes (workers) share the file.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as exc:  # bad URL or missing driver: name the setting
            raise StorageError(f"database_url {url!r} cannot be used: {exc}") from exc
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(db: Database) -> None:
    """Bring the schema to every head (feature branches each add their own migration)."""
    with db.engine.begin() as conn:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "heads")
        except Exception as exc:
            raise StorageError(f"migrating the database at {db.url!r} failed: {exc}") from exc


def open_database(url: str, *, migrate_schema: bool = True) -> Database:
    """The process-wide :class:`Database` for ``url``, migrated on first use."""
    with _lock:
        db = _databases.get(url)
        if db is None:
            db = Database(url)
            if migrate_schema:
                migrate(db)
            _databases[url] = db
        return db


def table_names(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())
