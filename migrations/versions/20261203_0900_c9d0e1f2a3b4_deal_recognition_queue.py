"""Due deals in a queue kept by the database; marking a deal recognised is a HOT update (issue 16 §2)

The recognition batch marks every deal it recognises (``recognised``, ``lines_version``,
``updated_at``). ``recognised`` was a column of ``ix_deals_recognised_trigger_reached_on``, the
index the batch found the due deals by, so every one of these UPDATEs wrote a new entry into all
eight of the deals' indexes. Now:

1. ``deal_recognition_queue`` (``DueDeal``) holds the due deals: reached their trigger, not
   recognised, not cancelled (``recognition.DUE``; the same rule as ``DUE`` below). Triggers on
   ``deals`` keep it, on both databases:
   - ``deals_due_on_insert``: a deal inserted due is added;
   - ``deals_became_due``: an UPDATE that makes a deal due adds it (its trigger date set, its
     commission reversed: ``recognised`` back to false);
   - ``deals_no_longer_due``: an UPDATE that makes it not due otherwise than by recognition
     removes it (cancelled, its trigger date cleared).
   Recognition removes the deals it marks in the same statement (``recognition._mark_recognised``),
   so the batch's UPDATE runs no row trigger; a row left behind by a deal marked recognised some
   other way only makes the batch read that deal once, find it not due and remove the row. So
   every due deal is in the queue, whichever path made it due. A deleted deal leaves it (ON DELETE
   CASCADE). Existing due deals are added here.
2. ``ix_deals_recognised_trigger_reached_on`` goes: no index names ``recognised`` now (the other
   queries on ``recognised`` find their deals by id, project or developer).
3. Room for the new row version on its page: ``deals`` is filled to 50 % (a deal row is ~570 bytes;
   the batch marks all the deals of a page in one statement, and a deal gets a few versions in its
   life: stage changes, recognition, reversal and re-recognition). PostgreSQL only; SQLite has no
   fillfactor. Pages written before keep their fill until they are rewritten (VACUUM FULL,
   pg_repack) or their rows move: on an existing database, marking the older deals stays a non-HOT
   update until then; new deals get the room.

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-12-03 09:00:00+00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "c9d0e1f2a3b4"
down_revision = "b8c9d0e1f2a3"
branch_labels = None
depends_on = None

QUEUE = "deal_recognition_queue"
TRIGGERS = ("deals_due_on_insert", "deals_became_due", "deals_no_longer_due")
CHANGES_DUE = "recognised, trigger_reached_on, stage"  # the columns DUE reads


def DUE(row: str) -> str:
    """recognition.DUE as SQL, of a trigger's OLD or NEW row."""
    return f"(NOT {row}.recognised AND {row}.trigger_reached_on IS NOT NULL AND {row}.stage <> 'cancelled')"


# (trigger, event, condition, what it does): the same rule on both databases. Recognition
# (recognised false → true) is left to the statement that marks the deals.
RULES = (
    ("deals_due_on_insert", "INSERT", DUE("NEW"), "enqueue"),
    ("deals_became_due", f"UPDATE OF {CHANGES_DUE}", f"{DUE('NEW')} AND NOT {DUE('OLD')}", "enqueue"),
    ("deals_no_longer_due", f"UPDATE OF {CHANGES_DUE}", f"{DUE('OLD')} AND NOT {DUE('NEW')} AND NOT NEW.recognised",
     "dequeue"),
)

POSTGRES_FUNCTIONS = (
    f"""
CREATE OR REPLACE FUNCTION deal_recognition_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {QUEUE} (deal_id) VALUES (NEW.id) ON CONFLICT (deal_id) DO NOTHING;
    RETURN NULL;
END;
$$
""",
    f"""
CREATE OR REPLACE FUNCTION deal_recognition_dequeue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {QUEUE} WHERE deal_id = NEW.id;
    RETURN NULL;
END;
$$
""",
)


def _postgres_trigger(name: str, event: str, condition: str, action: str) -> str:
    return (f"CREATE TRIGGER {name} AFTER {event} ON deals FOR EACH ROW WHEN ({condition}) "
            f"EXECUTE FUNCTION deal_recognition_{action}()")


def _sqlite_trigger(name: str, event: str, condition: str, action: str) -> str:
    body = (f"INSERT OR IGNORE INTO {QUEUE} (deal_id) VALUES (NEW.id)" if action == "enqueue"
            else f"DELETE FROM {QUEUE} WHERE deal_id = NEW.id")
    return f"CREATE TRIGGER {name} AFTER {event} ON deals FOR EACH ROW WHEN {condition} BEGIN {body}; END"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(QUEUE,
                    sa.Column("deal_id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], ondelete="CASCADE",
                                            name=op.f("fk_deal_recognition_queue_deal_id_deals")),
                    sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_deal_recognition_queue")))
    if dialect == "postgresql":
        for function in POSTGRES_FUNCTIONS:
            op.execute(function)
    for rule in RULES:
        op.execute(_postgres_trigger(*rule) if dialect == "postgresql" else _sqlite_trigger(*rule))
    op.execute(f"INSERT INTO {QUEUE} (deal_id) SELECT id FROM deals WHERE {DUE('deals')}")
    op.drop_index("ix_deals_recognised_trigger_reached_on", table_name="deals")
    if dialect == "postgresql":
        op.execute("ALTER TABLE deals SET (fillfactor = 50)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE deals RESET (fillfactor)")
    op.create_index("ix_deals_recognised_trigger_reached_on", "deals", ["recognised", "trigger_reached_on"])
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON deals" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS deal_recognition_enqueue()")
        op.execute("DROP FUNCTION IF EXISTS deal_recognition_dequeue()")
    op.drop_table(QUEUE)
