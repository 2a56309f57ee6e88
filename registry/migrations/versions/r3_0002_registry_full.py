"""registry in full: element attributes and history, aliases, disputes, handovers, subscriptions,
agreement workflow columns

Revision ID: r3_0002
Revises: 0001
Create Date: 2026-11-28 08:10:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "r3_0002"
down_revision = "0001"
branch_labels = ("registry_full",)
depends_on = None

STR = sqlmodel.sql.sqltypes.AutoString
TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): an existing SQLite database with rows keeps working.
    op.add_column("data_element", sa.Column("value_schema", sa.JSON(), nullable=True))
    op.add_column(
        "data_element", sa.Column("sharing_conditions", STR(length=2000), nullable=False, server_default="")
    )
    op.add_column(
        "data_element",
        sa.Column("update_frequency", STR(length=16), nullable=False, server_default="on_change"),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite may add a column with REFERENCES in place (its default is NULL); Alembic would rebuild.
        # A downgrade on SQLite keeps the column (see downgrade), so it may already be there.
        existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("data_element")}
        if "superseded_by_id" not in existing:
            op.execute(
                "ALTER TABLE data_element ADD COLUMN superseded_by_id INTEGER REFERENCES data_element (id)"
            )
    else:
        op.add_column("data_element", sa.Column("superseded_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_element_superseded_by", "data_element", "data_element", ["superseded_by_id"], ["id"]
        )
    if op.get_bind().dialect.name == "postgresql":
        # SQLite cannot add a CHECK to an existing table without rebuilding it; the services check there.
        op.create_check_constraint(
            "ck_element_status",
            "data_element",
            "status IN ('candidate','recorded','qualified','standard','superseded','retired')",
        )
        op.create_check_constraint(
            "ck_element_grade", "data_element", "grade IN ('general','important','core')"
        )

    for name, column in (
        ("requested_by", sa.Column("requested_by", STR(length=160), nullable=False, server_default="")),
        ("decision_due", sa.Column("decision_due", TIME(), nullable=True)),
        ("decided_by", sa.Column("decided_by", STR(length=160), nullable=True)),
        ("decided_at", sa.Column("decided_at", TIME(), nullable=True)),
        (
            "decision_reason",
            sa.Column("decision_reason", STR(length=2000), nullable=False, server_default=""),
        ),
        ("revoked_by", sa.Column("revoked_by", STR(length=160), nullable=True)),
        ("revoked_at", sa.Column("revoked_at", TIME(), nullable=True)),
        ("revoke_reason", sa.Column("revoke_reason", STR(length=2000), nullable=False, server_default="")),
    ):
        assert column.name == name
        op.add_column("sharing_agreement", column)

    op.create_table(
        "element_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Integer(), sa.ForeignKey("data_element.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", STR(length=32), nullable=False),
        sa.Column("actor", STR(length=160), nullable=False),
        sa.Column("at", TIME(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("reason", STR(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_element_history_element_id", "element_history", ["element_id"])

    op.create_table(
        "element_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Integer(), sa.ForeignKey("data_element.id"), nullable=False),
        sa.Column("scope_type", STR(length=16), nullable=False),
        sa.Column("scope", STR(length=32), nullable=False),
        sa.Column("local_code", STR(length=80), nullable=False),
        sa.Column("local_name", STR(length=200), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # An alias points to one element only, enforced by the database.
        sa.UniqueConstraint("scope_type", "scope", "local_code", name="uq_alias_scope_code"),
        sa.CheckConstraint("scope_type IN ('department','region')", name="ck_alias_scope_type"),
    )
    op.create_index("ix_element_alias_element_id", "element_alias", ["element_id"])
    op.create_index("ix_element_alias_scope", "element_alias", ["scope"])

    op.create_table(
        "source_dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Integer(), sa.ForeignKey("data_element.id"), nullable=False),
        sa.Column("claimant_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("kind", STR(length=16), nullable=False),
        sa.Column("proposal", sa.JSON(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("matched", STR(length=420), nullable=False),
        sa.Column("reason", STR(length=2000), nullable=False),
        sa.Column("status", STR(length=16), nullable=False),
        sa.Column("resolution", STR(length=16), nullable=True),
        sa.Column("resolution_note", STR(length=2000), nullable=False),
        sa.Column("opened_by", STR(length=160), nullable=False),
        sa.Column("opened_at", TIME(), nullable=False),
        sa.Column("resolved_by", STR(length=160), nullable=True),
        sa.Column("resolved_at", TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("kind IN ('claim','near_duplicate')", name="ck_dispute_kind"),
        sa.CheckConstraint("status IN ('open','resolved')", name="ck_dispute_status"),
    )
    op.create_index("ix_source_dispute_element_id", "source_dispute", ["element_id"])
    op.create_index("ix_source_dispute_claimant_department_id", "source_dispute", ["claimant_department_id"])
    op.create_index("ix_source_dispute_status", "source_dispute", ["status"])

    op.create_table(
        "source_handover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Integer(), sa.ForeignKey("data_element.id"), nullable=False),
        sa.Column("from_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("to_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("status", STR(length=16), nullable=False),
        sa.Column("reason", STR(length=2000), nullable=False),
        sa.Column("proposed_by", STR(length=160), nullable=False),
        sa.Column("proposed_at", TIME(), nullable=False),
        sa.Column("decided_by", STR(length=160), nullable=True),
        sa.Column("decided_at", TIME(), nullable=True),
        sa.Column("decision_note", STR(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "status IN ('proposed','accepted','rejected','cancelled')", name="ck_handover_status"
        ),
    )
    op.create_index("ix_source_handover_element_id", "source_handover", ["element_id"])
    op.create_index("ix_source_handover_to_department_id", "source_handover", ["to_department_id"])
    op.create_index("ix_source_handover_status", "source_handover", ["status"])

    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("source_department_id", sa.Integer(), sa.ForeignKey("department.id"), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME(), nullable=False),
        sa.Column("updated_at", TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_department_id", "source_department_id", name="uq_subscription_pair"),
    )
    op.create_index("ix_subscription_subscriber_department_id", "subscription", ["subscriber_department_id"])
    op.create_index("ix_subscription_source_department_id", "subscription", ["source_department_id"])


def downgrade() -> None:
    for table in ("subscription", "source_handover", "source_dispute", "element_alias", "element_history"):
        op.drop_table(table)
    agreement_columns = (
        "revoke_reason",
        "revoked_at",
        "revoked_by",
        "decision_reason",
        "decided_at",
        "decided_by",
        "decision_due",
        "requested_by",
    )
    element_columns = ("update_frequency", "sharing_conditions", "value_schema")
    if op.get_bind().dialect.name == "sqlite":
        # Native DROP COLUMN (SQLite >= 3.35), no table rebuild: rebuilding data_element would drop a
        # table that other rows reference. superseded_by_id stays (SQLite cannot drop a column that is
        # in a foreign key without a rebuild); it is nullable, unused below r3_0002 and reused on upgrade.
        for table, columns in (("sharing_agreement", agreement_columns), ("data_element", element_columns)):
            for name in columns:
                op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
        return
    for name in agreement_columns:
        op.drop_column("sharing_agreement", name)
    op.drop_constraint("ck_element_grade", "data_element", type_="check")
    op.drop_constraint("ck_element_status", "data_element", type_="check")
    op.drop_constraint("fk_element_superseded_by", "data_element", type_="foreignkey")
    for name in ("superseded_by_id", *element_columns):
        op.drop_column("data_element", name)
