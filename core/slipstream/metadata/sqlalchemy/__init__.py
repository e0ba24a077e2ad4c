"""The built-in metadata store: SQLAlchemy 2 Core on SQLite, PostgreSQL and MySQL/MariaDB."""

from slipstream.metadata.sqlalchemy.store import SqlAlchemyStore

__all__ = ["SqlAlchemyStore"]
