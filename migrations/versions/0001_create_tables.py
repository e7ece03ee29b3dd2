"""Create the schedule service tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 23:37:15.957885

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agents',
    sa.Column('agent_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('capabilities', sa.JSON(), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('agent_id'),
    sa.UniqueConstraint('api_key_hash')
    )
    op.create_table('operators',
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_table('scheduled_tasks',
    sa.Column('schedule_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('task_type', sa.String(length=200), nullable=False),
    sa.Column('capability_required', sa.String(length=200), nullable=False),
    sa.Column('input_data', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), server_default='5', nullable=False),
    sa.Column('cron_expression', sa.String(length=200), nullable=True),
    sa.Column('run_at', sa.DateTime(), nullable=True),
    sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('next_run_at', sa.DateTime(), nullable=True),
    sa.Column('last_run_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='ACTIVE', nullable=False),
    sa.Column('total_runs', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed_runs', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['agents.agent_id'], ),
    sa.PrimaryKeyConstraint('schedule_id')
    )
    with op.batch_alter_table('scheduled_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_tasks_client', ['client_id'], unique=False)
        batch_op.create_index('ix_scheduled_tasks_client_recent', ['client_id', 'created_at', 'schedule_id', 'status'], unique=False)
        batch_op.create_index('ix_scheduled_tasks_client_status', ['client_id', 'status'], unique=False)
        batch_op.create_index('ix_scheduled_tasks_due', ['status', 'next_run_at'], unique=False)
        batch_op.create_index('ix_scheduled_tasks_recent', ['created_at', 'schedule_id'], unique=False)

    op.create_table('tasks',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('task_type', sa.String(length=200), nullable=False),
    sa.Column('capability_required', sa.String(length=200), nullable=False),
    sa.Column('input_data', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('result_data', sa.JSON(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['agents.agent_id'], ),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_claim', ['status', 'capability_required', 'priority', 'created_at'], unique=False)
        batch_op.create_index('ix_tasks_client', ['client_id'], unique=False)
        batch_op.create_index('ix_tasks_lease', ['status', 'lease_expires_at'], unique=False)

    op.create_table('schedule_executions',
    sa.Column('execution_id', sa.String(length=64), nullable=False),
    sa.Column('schedule_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('scheduled_for', sa.DateTime(), nullable=False),
    sa.Column('executed_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result_data', sa.JSON(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['schedule_id'], ['scheduled_tasks.schedule_id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.task_id'], ),
    sa.PrimaryKeyConstraint('execution_id'),
    sa.UniqueConstraint('schedule_id', 'scheduled_for', name='uq_execution_occurrence')
    )
    with op.batch_alter_table('schedule_executions', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_executions_task', ['task_id'], unique=False)



def downgrade():
    with op.batch_alter_table('schedule_executions', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_executions_task')

    op.drop_table('schedule_executions')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_lease')
        batch_op.drop_index('ix_tasks_client')
        batch_op.drop_index('ix_tasks_claim')

    op.drop_table('tasks')
    with op.batch_alter_table('scheduled_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_tasks_recent')
        batch_op.drop_index('ix_scheduled_tasks_due')
        batch_op.drop_index('ix_scheduled_tasks_client_status')
        batch_op.drop_index('ix_scheduled_tasks_client_recent')
        batch_op.drop_index('ix_scheduled_tasks_client')

    op.drop_table('scheduled_tasks')
    op.drop_table('operators')
    op.drop_table('agents')
