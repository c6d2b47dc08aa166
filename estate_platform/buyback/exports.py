"""Export kind of collection packages (回款包, DESIGN §5a): one row per bought line in a package,
with what the developer paid of it, filtered like the packages page."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..deals.models import Deal
from ..exports import Column, ExportKind, Filter, register
from ..projects.models import Developer, Project
from .models import BuybackLine, BuybackPackage
from .packages import PACKAGE_LABELS, STATE_LABELS

BATCH = 2000


def _package_rows(session: Session, filters: dict):
    query = (select(BuybackPackage.id, Developer.name, BuybackPackage.status, BuybackPackage.created_at, Deal.id,
                    Project.name, Deal.unit, BuybackLine.expected_on, BuybackLine.face_cents,
                    BuybackLine.collected_cents)
             .join(BuybackLine, BuybackLine.package_id == BuybackPackage.id)
             .join(Developer, Developer.id == BuybackPackage.developer_id)
             .join(Deal, Deal.id == BuybackLine.deal_id).join(Project, Project.id == Deal.project_id))
    if "developer_id" in filters:
        query = query.where(BuybackPackage.developer_id == filters["developer_id"])
    query = query.order_by(BuybackPackage.id.desc(), BuybackLine.id)
    for (package_id, developer, status, created_at, deal_id, project, unit, expected_on, face,
         collected) in session.execute(query.execution_options(yield_per=BATCH)):
        state = "paid" if collected >= face else ("partly" if collected else "outstanding")
        yield (package_id, developer, PACKAGE_LABELS[status], created_at, deal_id, project, unit, expected_on, face,
               collected, face - collected, STATE_LABELS[state])


register(ExportKind(
    name="packages", title="回款包", roles=("admin", "finance"),
    columns=(Column("回款包编号", "int"), Column("开发商", "text"), Column("回款包状态", "text"),
             Column("生成时间", "datetime"), Column("成交编号", "int"), Column("楼盘", "text"), Column("房号", "text"),
             Column("预计回款日", "date"), Column("应收面值（元）", "cents"), Column("已回款（元）", "cents"),
             Column("未回款（元）", "cents"), Column("回款状态", "text")),
    filters=(Filter("developer_id", "int", "开发商"),),
    rows=_package_rows))
