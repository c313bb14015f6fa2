"""Alembic environment: runs on the connection the app hands over (see db.upgrade)."""

from alembic import context
from sqlalchemy.engine import Connection

from instapods.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `instapods db upgrade`")
run(connection)
