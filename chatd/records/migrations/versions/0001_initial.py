"""the record store's first tables

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

BODY = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('archived_conversations',
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('site_key', sa.String(length=64), nullable=False),
    sa.Column('visitor_id', sa.String(length=128), nullable=False),
    sa.Column('visitor_name', sa.String(length=128), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('queued_at', sa.Float(), nullable=True),
    sa.Column('first_offered_at', sa.Float(), nullable=True),
    sa.Column('assigned_at', sa.Float(), nullable=True),
    sa.Column('first_response_at', sa.Float(), nullable=True),
    sa.Column('closed_at', sa.Float(), nullable=False),
    sa.Column('transfers', sa.Integer(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.String(length=64), nullable=False),
    sa.Column('participants', BODY, nullable=False),
    sa.Column('conversation', BODY, nullable=False),
    sa.Column('archived_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_archived_conversations'))
    )
    with op.batch_alter_table('archived_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archived_conversations_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_archived_conversations_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_archived_conversations_site_key_visitor_id_created_at'),
                              ['site_key', 'visitor_id', 'created_at'], unique=False)

    op.create_table('bot_settings',
    sa.Column('site_key', sa.String(length=64), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('site_key', name=op.f('pk_bot_settings'))
    )
    op.create_table('kb_entries',
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_kb_entries'))
    )
    op.create_table('kb_meta',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_meta'))
    )
    op.create_table('overflow_rules',
    sa.Column('skill_group', sa.String(length=32), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('skill_group', name=op.f('pk_overflow_rules'))
    )
    op.create_table('quick_replies',
    sa.Column('reply_id', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('reply_id', name=op.f('pk_quick_replies'))
    )
    with op.batch_alter_table('quick_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quick_replies_owner'), ['owner'], unique=False)

    op.create_table('ratings',
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('site_key', sa.String(length=64), nullable=False),
    sa.Column('agent_id', sa.String(length=64), nullable=False),
    sa.Column('skill', sa.String(length=32), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('rated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_ratings'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_agent_id'), ['agent_id'], unique=False)

    op.create_table('schedules',
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('owner', name=op.f('pk_schedules'))
    )
    op.create_table('skill_groups',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_skill_groups'))
    )
    op.create_table('tickets',
    sa.Column('ticket_id', sa.String(length=40), nullable=False),
    sa.Column('site_key', sa.String(length=64), nullable=False),
    sa.Column('visitor_id', sa.String(length=128), nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('body', BODY, nullable=False),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_tickets'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_site_key'), ['site_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_status_created_at'), ['status', 'created_at'], unique=False)

    op.create_table('archived_messages',
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sender_role', sa.String(length=16), nullable=False),
    sa.Column('sender_id', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('client_msg_id', sa.String(length=64), nullable=False),
    sa.Column('data', BODY, nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['archived_conversations.conversation_id'],
                            name=op.f('fk_archived_messages_conversation_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'seq', name=op.f('pk_archived_messages'))
    )


def downgrade() -> None:
    op.drop_table('archived_messages')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_status_created_at'))
        batch_op.drop_index(batch_op.f('ix_tickets_site_key'))
        batch_op.drop_index(batch_op.f('ix_tickets_conversation_id'))

    op.drop_table('tickets')
    op.drop_table('skill_groups')
    op.drop_table('schedules')
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_agent_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('quick_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quick_replies_owner'))

    op.drop_table('quick_replies')
    op.drop_table('overflow_rules')
    op.drop_table('kb_meta')
    op.drop_table('kb_entries')
    op.drop_table('bot_settings')
    with op.batch_alter_table('archived_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archived_conversations_site_key_visitor_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_archived_conversations_closed_at'))
        batch_op.drop_index(batch_op.f('ix_archived_conversations_agent_id'))

    op.drop_table('archived_conversations')
