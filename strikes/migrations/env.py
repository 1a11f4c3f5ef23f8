"""Alembic environment for the strike schema.

Tegur runs migrations programmatically (``StrikeStore.migrate``, ``tegur strikes migrate``), passing an
open connection in ``config.attributes["connection"]``. For authoring a new migration with the
``alembic`` command, give it the URL instead: ``sqlalchemy.url`` in an ini file whose
``script_location`` is ``strikes:migrations``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from strikes.storage import VERSION_TABLE, Base, normalise_database_url

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or run `tegur strikes migrate --db URL`")
    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
