"""Clips carry their delivery format: one run, one clip per locale AND format (16:9, 9:16 ...).

Revision ID: 0030
Revises: 0020
Create Date: 2026-11-29 22:30:00

The unique key (run, locale) becomes (run, locale, format); "" is the format of every clip
made before formats existed, so old rows keep their meaning.
"""
import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0020'
branch_labels = None
depends_on = None

# SQLite named the old unique constraint nothing: batch mode finds it by this convention.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s"}


def _old_unique_name() -> str:
    bind = op.get_bind()
    for uc in sa.inspect(bind).get_unique_constraints('clips'):
        if uc["column_names"] == ["run_id", "locale"] and uc.get("name"):
            return uc["name"]
    return "uq_clips_run_id_locale"


def upgrade() -> None:
    old = _old_unique_name()
    with op.batch_alter_table('clips', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('format', sa.String(length=8), nullable=False,
                                      server_default=''))
        batch_op.drop_constraint(old, type_='unique')
        batch_op.create_unique_constraint('uq_clips_run_locale_format',
                                          ['run_id', 'locale', 'format'])


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint('uq_clips_run_locale_format', type_='unique')
        batch_op.create_unique_constraint('uq_clips_run_id_locale', ['run_id', 'locale'])
        batch_op.drop_column('format')
