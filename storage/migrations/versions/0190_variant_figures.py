"""Engagement figures per clip or variant, and the imports they came in (issue 19).

Revision ID: 0190
Revises: 0020
Create Date: 2026-11-29 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0190'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('figure_imports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    op.create_table('clip_figures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=False),
    sa.Column('variant_id', sa.String(length=160), nullable=False),
    sa.Column('clip_id', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('impressions', sa.BigInteger(), nullable=False),
    sa.Column('views', sa.BigInteger(), nullable=False),
    sa.Column('completions', sa.BigInteger(), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('likes', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['figure_imports.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('import_id', 'campaign_id', 'variant_id', 'clip_id')
    )
    with op.batch_alter_table('clip_figures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clip_figures_campaign_id'), ['campaign_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('clip_figures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clip_figures_campaign_id'))
    op.drop_table('clip_figures')
    op.drop_table('figure_imports')
