"""Alembic's environment: migrations run on the connection chatd hands over
(:func:`chatd.records.migrate.upgrade`), never from a config file's URL."""

from alembic import context

from chatd.records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `chatd db upgrade`")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
