"""Alembic's entry point for the desk migrations: always run on the connection `Desk` hands in."""

from alembic import context

from webapp.desk.schema import metadata

connection = context.config.attributes["connection"]
# Batch mode lets SQLite, which cannot ALTER most things, take the same migrations as PostgreSQL.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
