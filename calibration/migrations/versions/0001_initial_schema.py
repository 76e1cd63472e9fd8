"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 02:30:23.239940
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('llm_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cache_key', sa.String(length=64), nullable=False),
    sa.Column('rater_id', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=300), nullable=False),
    sa.Column('base_url', sa.Text(), nullable=True),
    sa.Column('template_hash', sa.String(length=64), nullable=True),
    sa.Column('policy_hash', sa.String(length=64), nullable=True),
    sa.Column('item_id', sa.String(length=300), nullable=True),
    sa.Column('request', sa.JSON(), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('tokens_in', sa.Integer(), nullable=True),
    sa.Column('tokens_out', sa.Integer(), nullable=True),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.create_index('ix_llm_calls_cache_key', ['cache_key'], unique=False)

    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.String(length=200), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('content_hash')
    )
    op.create_table('raters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('config', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rater_id')
    )
    op.create_table('golden_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('policy_pk', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['policy_pk'], ['policies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('golden_set_pk', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=300), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('context', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=True),
    sa.Column('gold_label', sa.String(length=200), nullable=True),
    sa.Column('gold_areas', sa.JSON(), nullable=True),
    sa.Column('gold_unknown_areas', sa.JSON(), nullable=True),
    sa.Column('gold_rationale', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['golden_set_pk'], ['golden_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('golden_set_pk', 'item_id', name='uq_items_set_item')
    )
    op.create_table('rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('golden_set_pk', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('policy_pk', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['golden_set_pk'], ['golden_sets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_pk'], ['policies.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('golden_set_pk', 'name', name='uq_rounds_set_name')
    )
    op.create_table('judgements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_pk', sa.Integer(), nullable=False),
    sa.Column('item_pk', sa.Integer(), nullable=False),
    sa.Column('rater_pk', sa.Integer(), nullable=False),
    sa.Column('sample', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('areas', sa.JSON(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('model', sa.String(length=300), nullable=True),
    sa.Column('prompt_hash', sa.String(length=64), nullable=True),
    sa.Column('policy_hash', sa.String(length=64), nullable=True),
    sa.Column('tokens_in', sa.Integer(), nullable=True),
    sa.Column('tokens_out', sa.Integer(), nullable=True),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('raw_response', sa.Text(), nullable=True),
    sa.Column('area_scores', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_pk'], ['items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rater_pk'], ['raters.id'], ),
    sa.ForeignKeyConstraint(['round_pk'], ['rounds.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round_pk', 'item_pk', 'rater_pk', 'sample', name='uq_judgement')
    )
    with op.batch_alter_table('judgements', schema=None) as batch_op:
        batch_op.create_index('ix_judgements_item_rater', ['item_pk', 'rater_pk'], unique=False)
        batch_op.create_index('ix_judgements_rater', ['rater_pk'], unique=False)

    op.create_table('round_items',
    sa.Column('round_pk', sa.Integer(), nullable=False),
    sa.Column('item_pk', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['item_pk'], ['items.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_pk'], ['rounds.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_pk', 'item_pk')
    )


def downgrade() -> None:
    op.drop_table('round_items')
    with op.batch_alter_table('judgements', schema=None) as batch_op:
        batch_op.drop_index('ix_judgements_rater')
        batch_op.drop_index('ix_judgements_item_rater')

    op.drop_table('judgements')
    op.drop_table('rounds')
    op.drop_table('items')
    op.drop_table('golden_sets')
    op.drop_table('raters')
    op.drop_table('policies')
    with op.batch_alter_table('llm_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_llm_calls_cache_key')

    op.drop_table('llm_calls')
