"""Call scripts (回访话术), one per kind, in the words operations read to the buyer.

Each script opens the same way (who calls, why, may we take two minutes), asks the kind's
questions in order, and ends with what to record. The buyer's full number is never in a
script: the caller reveals it (logged) when he dials.
"""
from __future__ import annotations

from ..clock import SHANGHAI
from .models import Revisit

OPENING = ("您好，请问是{buyer}吗？我是新房顾问合作平台的回访专员，想就您在{project}看房的情况做个简短回访，"
           "大约占用您两分钟，方便吗？")
CLOSING = "感谢您的配合！如对顾问的服务有任何意见，欢迎随时联系平台。祝您生活愉快，再见。"
NOT_NOW = "（客户不方便：约定回拨时间，记为「未接通」；客户明确拒绝再接到回访电话：记为「客户要求不再回访」。）"

QUESTIONS = {
    "after_visit": (
        "您在 {visit_day} 到访了{project}售楼处，请问是我们平台的顾问{consultant}陪同您去的吗？",
        "顾问当天有没有全程陪同、为您讲解楼盘？",
        "（客户确认顾问陪同 → 记「客户确认」；客户称没有到访或不是该顾问陪同 → 记「否认顾问带看」。）",
    ),
    "before_expiry": (
        "顾问{consultant}为您登记的{project}看房意向将于 {until} 到期，想了解一下您目前的购房进展。",
        "请问您已经在{project}认购了吗？如果已经购买，是通过哪位顾问或哪家中介，还是直接在售楼处买的？大约是哪一天？",
        "（尚未购买、仍在考虑 → 记「客户确认」；已直接在售楼处购买 → 记「已直接向开发商购买」；"
        "通过其他中介购买 → 记「已通过其他中介购买」并填写中介名称。）",
    ),
    "after_expiry": (
        "顾问{consultant}此前为您登记的{project}看房意向已于 {until} 结束，想了解一下您后来的购房情况。",
        "请问您后来在{project}买房了吗？是通过哪位顾问或哪家中介，还是直接在售楼处买的？是哪一天认购的？",
        "（未购买 → 记「客户确认」；已购买须记下认购日期：直接在售楼处 → 「已直接向开发商购买」，"
        "通过其他中介 → 「已通过其他中介购买」并填写中介名称。）",
    ),
    "deal_sample": (
        "恭喜您在 {subscribed_on} 认购了{project}{unit}！这次购房是由我们平台的顾问{consultant}为您服务的吗？",
        "顾问是否陪同您到访售楼处、协助您完成认购？您对顾问的服务满意吗？",
        "（客户确认 → 记「客户确认」；客户称不认识该顾问或顾问未陪同 → 记「否认顾问带看」；"
        "客户称通过其他中介或直接在售楼处购买 → 按实际记录并填写中介名称。）",
    ),
}


def _day(instant) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y年%m月%d日") if instant is not None else "—"


def script_for(revisit: Revisit) -> list[str]:
    """The lines to read for this revisit, filled in with its project, consultant and dates."""
    registration = revisit.registration
    deal = revisit.deal
    values = {
        "buyer": registration.buyer_name or "客户",
        "project": revisit.project.name,
        "consultant": revisit.consultant.name,
        "visit_day": _day(revisit.visit.confirmed_at if revisit.visit is not None else None),
        "until": _day(registration.protected_until),
        "subscribed_on": deal.subscribed_on.strftime("%Y年%m月%d日") if deal is not None else "—",
        "unit": f" {deal.unit}" if deal is not None else "",
    }
    lines = [OPENING, *QUESTIONS[revisit.kind], CLOSING, NOT_NOW]
    return [line.format(**values) for line in lines]
