"""jobs: the durable job queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 11:03:58.166038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import instapods.models.base


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', instapods.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('locked_until', instapods.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('finished_at', instapods.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dedupe_key', sa.String(length=128), nullable=True),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', instapods.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', instapods.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_jobs_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_run_at', ['status', 'run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_subject'), ['subject'], unique=False)
        # one unfinished job per dedupe key; finished jobs keep theirs as history
        batch_op.create_index(
            'uq_jobs_dedupe_key_unfinished', ['dedupe_key'], unique=True,
            sqlite_where=UNFINISHED, postgresql_where=UNFINISHED,
        )


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('uq_jobs_dedupe_key_unfinished')
        batch_op.drop_index(batch_op.f('ix_jobs_subject'))
        batch_op.drop_index('ix_jobs_status_run_at')

    op.drop_table('jobs')
