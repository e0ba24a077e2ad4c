"""The built-in metadata store: one class over SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from slipstream.metadata.base import SchemaStatus, StoreContext
from slipstream.metadata.secrets import SecretBox
from slipstream.metadata.sqlalchemy._admin import AdminMixin
from slipstream.metadata.sqlalchemy._claims import ClaimsMixin
from slipstream.metadata.sqlalchemy._dags import DagsMixin
from slipstream.metadata.sqlalchemy._runs import RunsMixin
from slipstream.metadata.sqlalchemy._xcom import XComMixin
from slipstream.metadata.sqlalchemy.engine import make_engine
from slipstream.metadata.sqlalchemy.schema import metadata

# The newest migration's revision. Kept here so that checking an up-to-date schema
# (every service does at start) is one SELECT, without loading Alembic; a test
# checks it against Alembic's own head.
HEAD_REVISION = "0004"


def _migrations() -> ModuleType:
    """Alembic is imported only by the commands that migrate or check (it costs ~0.1 s)."""
    from slipstream.metadata.sqlalchemy import migrate

    return migrate


class SqlAlchemyStore(DagsMixin, RunsMixin, ClaimsMixin, XComMixin, AdminMixin):
    """The metadata store on SQLAlchemy Core. Each method is one short transaction."""

    @classmethod
    def from_context(cls, context: StoreContext) -> SqlAlchemyStore:
        """What the built-in plugin's factory calls: URL and Fernet key from config."""
        key = context.config.get("core.fernet_key")
        return cls.from_url(context.url, fernet_key=key, home=context.config.home)

    @classmethod
    def from_url(
        cls, url: str, *, fernet_key: str | None = None, home: Path | None = None
    ) -> SqlAlchemyStore:
        """A store for ``url``; without ``fernet_key`` the key lives in ``home``."""
        if fernet_key is None and home is None:
            raise ValueError("give a fernet_key, or a home folder to keep a generated one in")
        secrets = SecretBox(fernet_key, home or Path.cwd())
        return cls(make_engine(url), secrets)

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> None:
        if self._current_revision() == HEAD_REVISION:
            return
        with self._write() as conn:
            _migrations().upgrade(conn)

    def _current_revision(self) -> str | None:
        with self._turns, self._connect() as conn:  # not _read(): it asks check() on errors
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def check(self) -> SchemaStatus:
        current = self._current_revision()
        if current == HEAD_REVISION:
            return SchemaStatus(
                ok=True,
                current=current,
                head=HEAD_REVISION,
                message=f"schema is up to date ({HEAD_REVISION})",
            )
        head = _migrations().head_revision()
        if current == head:
            return SchemaStatus(
                ok=True, current=current, head=head, message=f"schema is up to date ({head})"
            )
        if current is None:
            message = "the database has no slipstream schema: run `slipstream db migrate`"
        else:
            known = {rev.revision for rev in _migrations().all_revisions()}
            message = (
                f"schema is at {current}, this slipstream needs {head}: run `slipstream db migrate`"
                if current in known
                else f"schema is at {current}, which this slipstream does not know "
                "(written by a newer version?)"
            )
        return SchemaStatus(ok=False, current=current, head=head, message=message)

    def reset(self) -> None:
        with self._write() as conn:
            metadata.drop_all(conn)
            version_table = sa.Table(_migrations().VERSION_TABLE, sa.MetaData())
            version_table.drop(conn, checkfirst=True)
        self.migrate()
