"""Catalog webhook deliveries (dedup ledger of the ingest endpoint).

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21 08:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_events',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('sku', sa.String(length=128), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('signature_sha256', sa.String(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('prefect_event_id', sa.String(length=64), nullable=True),
    sa.Column('emitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('event_id'),
    sa.UniqueConstraint('signature_sha256')
    )
    with op.batch_alter_table('catalog_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_events_sku'), ['sku'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_events_sku'))
    op.drop_table('catalog_events')
