"""Alembic's environment: migrations run on the connection chatd hands over
(:func:`chatd.records.migrate.upgrade`), never from a config file's URL."""

from alembic import context

from chatd.records.schema import is_search_index, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `chatd db upgrade`")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                  include_name=lambda name, kind, parent: not (name and is_search_index(name)))
with context.begin_transaction():
    context.run_migrations()
