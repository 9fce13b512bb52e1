"""full-text search over archived messages

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from chatd.records.schema import search_ddl

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_terms',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['archived_conversations.conversation_id'],
                            name=op.f('fk_message_terms_conversation_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_terms'))
    )
    op.create_index(op.f('ix_message_terms_conversation_id'), 'message_terms', ['conversation_id'], unique=False)
    for statement in search_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    # Conversations archived before this revision: index their messages.
    from chatd.search import index_terms

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT conversation_id, seq, body FROM archived_messages WHERE kind = 'message'"))
    rows = rows.fetchall()
    batch = []
    for row in rows:
        batch.append({"conversation_id": row.conversation_id, "seq": row.seq, "terms": index_terms(row.body)})
        if len(batch) == 1000:
            bind.execute(sa.text("INSERT INTO message_terms (conversation_id, seq, terms) "
                                 "VALUES (:conversation_id, :seq, :terms)"), batch)
            batch = []
    if batch:
        bind.execute(sa.text("INSERT INTO message_terms (conversation_id, seq, terms) "
                             "VALUES (:conversation_id, :seq, :terms)"), batch)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS message_terms_added")
        op.execute("DROP TRIGGER IF EXISTS message_terms_removed")
        op.execute("DROP TABLE IF EXISTS message_index")
    op.drop_index(op.f('ix_message_terms_conversation_id'), table_name='message_terms')
    op.drop_table('message_terms')
