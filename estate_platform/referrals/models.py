from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UtcDateTime, db


class ReferralEdge(db.Model):
    """A dated edge of the referral network other than the invite (upline) edges, which
    onboarding keeps in ``consultant_invites`` (DESIGN §3):

    * ``handoff``: consultant → consultant, for one buyer and project (转介);
    * ``buyer_referral``: buyer → buyer (老带新), the friend's one referrer, ever.
    """
    __tablename__ = "referral_edges"
    __table_args__ = (
        CheckConstraint("kind IN ('handoff', 'buyer_referral')", name="kind_known"),
        CheckConstraint("(kind = 'handoff' AND source_type = 'consultant' AND target_type = 'consultant' "
                        "AND buyer_id IS NOT NULL AND project_id IS NOT NULL) OR "
                        "(kind = 'buyer_referral' AND source_type = 'buyer' AND target_type = 'buyer')",
                        name="ends_match_kind"),
        CheckConstraint("NOT (source_type = target_type AND source_id = target_id)", name="not_self"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_range"),
        # A buyer is referred by one buyer at most.
        Index("uq_referral_edges_buyer_referral_target", "target_id", unique=True,
              sqlite_where=db.text("kind = 'buyer_referral'"), postgresql_where=db.text("kind = 'buyer_referral'")),
        Index("ix_referral_edges_kind_buyer_id_project_id", "kind", "buyer_id", "project_id"),
        Index("ix_referral_edges_source_type_source_id", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    source_type: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(Integer)
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Integer)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BuyerReferralCode(db.Model):
    """A buyer's own share code for 老带新: a friend who signs up with it is his referral."""
    __tablename__ = "buyer_referral_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
