"""Persistence on SQLAlchemy 2: SQLite (WAL) by default, PostgreSQL for scale-out."""

from bot.store.db import open_engine
from bot.store.sql import SqlStore

__all__ = ["SqlStore", "open_engine"]
