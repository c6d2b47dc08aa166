"""Demo data for ``make run``: loaded once, never duplicated, never in production."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .clock import SHANGHAI, local_date
from .commissions import services as commissions
from .consultants import services as consultants
from .consultants.models import Consultant
from .contracts.services import publish_agreement, sign_agreement
from .crm import services as crm
from .deals import services as deals
from .handoffs import services as handoffs
from .identity.models import Buyer, StaffUser, WechatUser
from .invites import services as invites
from .projects import developers as developer_book, existing_customers, services as projects
from .registrations import services as registrations
from .security import hash_password
from .visits import services as visits

AGREEMENT_TEXT = """新房顾问合作平台 · 顾问合作协议（第一版）

一、入驻免费。顾问入驻、使用平台均不收取任何费用，平台不因顾问邀请他人入驻支付任何报酬；只有真实成交产生佣金。
二、客户报备。顾问须如实报备客户，同一楼盘同一客户以最先有效报备为准，保护期按楼盘规则执行。
三、防跑单。顾问或其客户绕开平台与开发商直接成交（跑单、飞单）的，顾问应向平台支付该单应得佣金两倍的违约金，平台有权暂停或终止合作。
四、回访。顾问同意平台就带看、成交情况对客户进行回访核实。
五、佣金。佣金按平台公布的规则结算，以整数分计；退房的，已结算佣金应予退回。
六、本协议以电子方式签署，签署时记录版本、文本指纹、时间、IP 与设备信息，具有同等法律效力。
"""

STAFF = [
    # username, password, display name, role
    ("admin", "admin-demo-123", "系统管理员", "admin"),
    ("finance", "finance-demo-123", "财务 王会计", "finance"),
    ("ops", "ops-demo-123", "运营 李专员", "operations"),
    ("site", "site-demo-123", "案场 赵经理", "site_staff"),
]

# openid, name, phone, city, kind, company, inviter openid, status, signed
CONSULTANTS = [
    ("demo-consultant-1", "张伟", "13800000001", "南京", "company", "南京安居置业", None, "active", True),
    ("demo-consultant-2", "王芳", "13800000002", "南京", "store", "鼓楼链家门店", "demo-consultant-1", "active", True),
    ("demo-consultant-3", "李强", "13800000003", "南京", "independent", None, "demo-consultant-1", "active", True),
    ("demo-consultant-4", "刘洋", "13800000004", "南京", "company", "南京安居置业", "demo-consultant-2", "active", True),
    ("demo-consultant-5", "陈静", "13800000005", "苏州", "independent", None, "demo-consultant-2", "active", False),
    ("demo-consultant-6", "杨磊", "13800000006", "南京", "store", "河西我爱我家门店", "demo-consultant-3", "pending", False),
]

BUYERS = [("13900000001", "周先生"), ("13900000002", "吴女士"), ("13900000003", "郑先生")]
# Buyers of 张伟's day in the consultant app: a handoff offered to him, and a deal of his own.
DAY_BUYERS = [("13900000004", "钱女士"), ("13900000005", "孙先生"), ("13900000006", "何女士")]
SELLER_BUYER = ("13900000021", "冯女士")  # 李强's buyer at 澜岸, whose commission can be sold early


@dataclass
class DemoSummary:
    created: bool
    staff: list[tuple[str, str, str]]
    consultants: list[tuple[str, str, str]]
    buyers: list[str]


def summary(created: bool) -> DemoSummary:
    return DemoSummary(
        created=created,
        staff=[(u, p, r) for u, p, _, r in STAFF],
        consultants=[(openid, name, status) for openid, name, *_rest, status, _signed in CONSULTANTS],
        buyers=[phone for phone, _ in BUYERS],
    )


def load_demo(session: Session, *, now: datetime, encryption_key: str | None = None) -> DemoSummary:
    """Create the demo world unless it is already there. With the payout ``encryption_key``,
    张伟 also has a confirmed payout account (numbers are stored encrypted under it)."""
    if session.scalar(select(StaffUser.id).where(StaffUser.username == "admin")) is not None:
        return summary(created=False)

    developer = developer_book.create_developer(
        session, developer_book.DeveloperInput(name="金陵置地集团", contact_name="孙总", contact_phone="025-84561234"), now=now)
    demo_projects = {}
    for name, district, address, rules in [
        # 报备→到访（30天内）→成交（90天内），前三后四: the defaults
        ("金陵·玖珑湾", "建邺区", "江东中路 88 号", {"price_min_cents": 450_000_000, "price_max_cents": 900_000_000}),
        # 到访为王: only a confirmed visit binds the buyer; 7 days to visit, then 60 days to sign
        ("金陵·栖霞云庭", "栖霞区", "仙林大道 16 号", {"price_min_cents": 280_000_000, "price_max_cents": 520_000_000,
                                              "protection_mode": "visit_deal", "visit_window_hours": 7 * 24,
                                              "deal_window_hours": 60 * 24}),
        # 报备→成交（45天内），site staff see 前四后三, 7-day cooldown, 2 projects per buyer per day
        ("金陵·江宁澜岸", "江宁区", "双龙大道 1200 号", {"price_min_cents": 180_000_000, "price_max_cents": 350_000_000,
                                                "protection_mode": "report_deal", "deal_window_hours": 45 * 24,
                                                "phone_disclosure": "first4_last3", "daily_buyer_project_limit": 2,
                                                "reregister_cooldown_hours": 7 * 24}),
    ]:
        demo_projects[name] = projects.create_project(
            session, {"developer_id": developer.id, "name": name, "city": "南京", "district": district,
                      "address": address, **rules}, now=now).project

    staff_ids = {}
    for username, password, display, role in STAFF:
        user = StaffUser(username=username, password_hash=hash_password(password), display_name=display,
                         role=role, developer_id=developer.id if role == "site_staff" else None,
                         created_at=now)
        session.add(user)
        session.flush()
        staff_ids[role] = user.id

    agreement = publish_agreement(session, title="顾问合作协议", text=AGREEMENT_TEXT,
                                  staff_id=staff_ids["admin"], now=now - timedelta(days=30))

    by_openid: dict[str, Consultant] = {}
    for i, (openid, name, phone, city, kind, company, inviter, status, signed) in enumerate(CONSULTANTS):
        joined = now - timedelta(days=28 - i * 3)
        user = WechatUser(openid=openid, created_at=joined)
        session.add(user)
        session.flush()
        code = by_openid[inviter].invite_code if inviter else None
        consultant = consultants.apply(
            session, user.id,
            consultants.Application(name=name, phone=phone, city=city, kind=kind, company_name=company,
                                    inviter_code=code), now=joined)
        consultant.phone_verified_at = joined  # as if he typed the SMS code at apply (consultants.phone)
        if status == "active":
            consultants.change_status(session, consultant.id, "approve", staff_id=staff_ids["operations"],
                                      reason=None, now=joined + timedelta(hours=2))
        if signed:
            sign_agreement(session, consultant, version=agreement.version, sha256=agreement.sha256,
                           ip="127.0.0.1", user_agent="demo-data", now=joined + timedelta(hours=3))
        by_openid[openid] = consultant

    # The 玖珑湾 sales office already knows this buyer (案场老客户): he cannot be registered there.
    existing_customers.mark_existing_customer(session, demo_projects["金陵·玖珑湾"].id, phone="13900000009", name="冯先生",
                                    staff=session.get(StaffUser, staff_ids["site_staff"]), now=now)
    # 张伟 has registered one demo buyer at 玖珑湾 (protection running).
    zhou = registrations.register(session, by_openid["demo-consultant-1"],
                                  registrations.NewRegistration(project_id=demo_projects["金陵·玖珑湾"].id,
                                                                buyer_name="周先生", buyer_phone=BUYERS[0][0]), now=now)
    session.add(Buyer(phone="+86" + BUYERS[2][0], name=BUYERS[2][1], created_at=now))
    session.flush()
    _load_commissions(session, demo_projects, by_openid, finance=session.get(StaffUser, staff_ids["finance"]), now=now)
    _load_consultant_day(session, demo_projects, by_openid, zhou, finance=session.get(StaffUser, staff_ids["finance"]),
                         now=now)
    _load_consultant_guards(session, demo_projects, by_openid["demo-consultant-1"],
                            ops=session.get(StaffUser, staff_ids["operations"]),
                            site=session.get(StaffUser, staff_ids["site_staff"]), now=now)
    if encryption_key:
        _load_payout_account(session, by_openid["demo-consultant-1"], encryption_key=encryption_key, now=now)
    _load_sellable_commission(session, demo_projects, by_openid, finance=session.get(StaffUser, staff_ids["finance"]),
                              now=now)
    _load_collections(session, developer.id, finance=session.get(StaffUser, staff_ids["finance"]), now=now)
    return summary(created=True)


def _load_sellable_commission(session: Session, demo_projects: dict, by_openid: dict, *, finance: StaffUser,
                              now: datetime) -> None:
    """佣金垫付 (/m/buyback): 李强 signed a deal at 澜岸 yesterday, due after the ones the demo's
    collections pay, so he and his upline 张伟 each have a recognised, pending line to sell early."""
    project = demo_projects["金陵·江宁澜岸"]
    phone, name = SELLER_BUYER
    registrations.register(session, by_openid["demo-consultant-3"], registrations.NewRegistration(
        project_id=project.id, buyer_name=name, buyer_phone=phone), now=now - timedelta(days=8))
    deal = deals.record_deal(session, finance, deals.NewDeal(
        project_id=project.id, buyer_phone=phone, unit="5栋-0601", price_cents=236_000_000,
        subscribed_on=local_date(now - timedelta(days=4))), now=now)
    deals.change_stage(session, finance, deal.id, "signed", on=local_date(now - timedelta(days=1)), now=now)


def _load_collections(session: Session, developer_id: int, *, finance: StaffUser, now: datetime) -> None:
    """回款 (issue 12): the platform invoiced the developer for its receivables; one payment paid the
    oldest deal in full against that invoice, a second paid ¥10,000 towards the next."""
    from .receivables import invoices, services as collections
    owed = collections.open_receivables(session, developer_id)
    if not owed:
        return
    invoice = invoices.create_invoice(session, finance, developer_id=developer_id, number="FP-2026-0001",
                                      issued_on=local_date(now - timedelta(days=1)),
                                      amount_cents=sum(r.outstanding_cents for r in owed), tax_rate_bps=600,
                                      note="演示：佣金服务费发票", now=now)
    collections.record_collection(session, finance, developer_id=developer_id, amount_cents=owed[0].outstanding_cents,
                                  received_on=local_date(now), bank_reference="ICBC-20261201-0001",
                                  invoice_id=invoice.id, now=now)
    if len(owed) > 1:
        collections.record_collection(session, finance, developer_id=developer_id,
                                      amount_cents=min(1_000_000, owed[1].outstanding_cents),
                                      received_on=local_date(now), bank_reference="ICBC-20261201-0002",
                                      invoice_id=invoice.id, now=now)


def _load_commissions(session: Session, demo_projects: dict, by_openid: dict, *, finance: StaffUser,
                      now: datetime) -> None:
    """Rules, the platform's split policy, and one signed deal whose commission is recognised
    along the chain 刘洋 ← 王芳 ← 张伟 (DESIGN §3)."""
    start = date(2020, 1, 1)
    commissions.create_policy(session, commissions.PolicyInput(
        effective_from=start, platform_fee_bps=1000, referral_bps=2000, upline_bps=[1000, 500], max_upline_levels=2,
        buyer_referral_reward_cents=200_000), staff_id=finance.id, now=now)
    commissions.create_rule(session, demo_projects["金陵·玖珑湾"].id, commissions.RuleInput(
        effective_from=start, basis="rate", rate_bps=200, trigger="signed", payment_terms_days=30,
        text="网签后按成交价 2% 结佣，开发商 30 天内付款"), staff_id=finance.id, now=now)
    commissions.create_rule(session, demo_projects["金陵·栖霞云庭"].id, commissions.RuleInput(
        effective_from=start, basis="fixed", fixed_cents=5_000_000, trigger="loan_disbursed", payment_terms_days=45,
        text="每套 5 万元，放款后 45 天内付款"), staff_id=finance.id, now=now)
    commissions.create_rule(session, demo_projects["金陵·江宁澜岸"].id, commissions.RuleInput(
        effective_from=start, basis="rate", rate_bps=150, tier_metric="units",
        tiers=[{"threshold": 6, "rate_bps": 200}, {"threshold": 11, "rate_bps": 250}], trigger="signed",
        payment_terms_days=30, text="当月第 1–5 套 1.5%，第 6–10 套 2%，第 11 套起 2.5%（只对之后的成交生效）"),
        staff_id=finance.id, now=now)
    project = demo_projects["金陵·江宁澜岸"]
    registrations.register(session, by_openid["demo-consultant-4"],
                           registrations.NewRegistration(project_id=project.id, buyer_name=BUYERS[1][1],
                                                         buyer_phone=BUYERS[1][0]), now=now - timedelta(days=10))
    deal = deals.record_deal(session, finance, deals.NewDeal(
        project_id=project.id, buyer_phone=BUYERS[1][0], unit="3栋-1802", price_cents=268_000_000,
        subscribed_on=local_date(now - timedelta(days=5))), now=now)
    deals.change_stage(session, finance, deal.id, "signed", on=local_date(now - timedelta(days=2)), now=now)


def _load_consultant_day(session: Session, demo_projects: dict, by_openid: dict, zhou, *, finance: StaffUser,
                         now: datetime) -> None:
    """What fills 张伟's consultant app (/m/): a visit booked for tomorrow with its check-in code,
    a follow-up due today, a protection ending in three days, a colleague's handoff waiting for
    his answer, an invite link, and a deal of his own signed with its commission recognised."""
    zhang = by_openid["demo-consultant-1"]
    tomorrow = local_date(now + timedelta(days=1))
    visits.book_visit(session, zhang, zhou.id,
                      datetime(tomorrow.year, tomorrow.month, tomorrow.day, 14, 30, tzinfo=SHANGHAI), now=now)
    card = crm.ensure_card(session, zhang.id, zhou.buyer_id, "周先生", now=now)
    crm.add_note(session, zhang.id, card.id, "周先生想看 120㎡ 四居，约好明天下午到案场。", now=now,
                 next_contact_at=now + timedelta(minutes=30))
    handoffs.create_handoff(session, by_openid["demo-consultant-2"], project_id=demo_projects["金陵·栖霞云庭"].id,
                            buyer_phone=DAY_BUYERS[0][0], buyer_name=DAY_BUYERS[0][1],
                            to_consultant_id=zhang.id, note="客户在仙林工作，想看地铁口的三居", now=now)
    invites.create_link(session, zhang, channel="moments", project_id=demo_projects["金陵·玖珑湾"].id, now=now)
    project = demo_projects["金陵·玖珑湾"]
    registrations.register(session, zhang, registrations.NewRegistration(  # 30 days to visit: 3 left
        project_id=project.id, buyer_name=DAY_BUYERS[2][1], buyer_phone=DAY_BUYERS[2][0]),
        now=now - timedelta(days=27))
    registrations.register(session, zhang, registrations.NewRegistration(
        project_id=project.id, buyer_name=DAY_BUYERS[1][1], buyer_phone=DAY_BUYERS[1][0]),
        now=now - timedelta(days=12))
    deal = deals.record_deal(session, finance, deals.NewDeal(
        project_id=project.id, buyer_phone=DAY_BUYERS[1][0], unit="6栋-1501", price_cents=520_000_000,
        subscribed_on=local_date(now - timedelta(days=6))), now=now)
    deals.change_stage(session, finance, deal.id, "signed", on=local_date(now - timedelta(days=3)), now=now)


def _load_consultant_guards(session: Session, demo_projects: dict, zhang: Consultant, *, ops: StaffUser,
                            site: StaffUser, now: datetime) -> None:
    """张伟's side of the guards in his app (/m/): a visit to accompany today, a dispute he must
    answer before its deadline, his credit history, and the sales office's cancellation request
    on his deal, which he may object to."""
    from .credit import services as credit
    from .deals import requests as deal_requests
    from .deals.models import Deal
    from .disputes import services as disputes
    from .registrations.models import Registration
    later = registrations.register(session, zhang, registrations.NewRegistration(
        project_id=demo_projects["金陵·江宁澜岸"].id, buyer_name=BUYERS[2][1], buyer_phone=BUYERS[2][0]), now=now)
    visits.book_visit(session, zhang, later.id, now + timedelta(hours=1), now=now)
    he = session.scalar(select(Registration).where(Registration.consultant_id == zhang.id,
                                                   Registration.buyer_name == DAY_BUYERS[2][1]))
    disputes.open_manual(session, ops, key="demo-zhang-visit", registration_id=he.id, deal_id=None,
                         respondent_kind="consultant", respondent_consultant_id=zhang.id, claimant_consultant_id=None,
                         subject="回访：客户表示到访时未见顾问陪同",
                         summary="回访中何女士表示到访金陵·玖珑湾时没有顾问陪同，请说明带看经过并提供来访确认单等证据。",
                         sale_price_cents=None, sold_on=None, now=now)
    for days_ago, delta, code, text in [(20, 1, "revisit_confirmed", "回访 客户确认周先生的带看"),
                                        (9, -5, "risk_flag", "风控预警：报备后 4 分钟即到访（防截客），待核实"),
                                        (2, 1, "tenure", "合作满 1 个月")]:
        credit.adjust(session, zhang.id, delta, reason_code=code, reason_text=text, ref=f"demo:{code}",
                      now=now - timedelta(days=days_ago))
    deal = session.scalar(select(Deal).where(Deal.consultant_id == zhang.id, Deal.unit == "6栋-1501"))
    deal_requests.request_cancel(session, site, deal.id, reason="客户因贷款未获批申请退房", now=now)


def _load_payout_account(session: Session, zhang: Consultant, *, encryption_key: str, now: datetime) -> None:
    """张伟's company account, confirmed three days ago (past the 24-hour wait), for /m/payout."""
    from .settlement import accounts
    party = accounts.Party.of_consultant(zhang)
    account = accounts.add_account(session, party, holder_name=zhang.company_name, bank_name="招商银行南京河西支行",
                                   account_number="6225880112345678", id_number=None, encryption_key=encryption_key,
                                   now=now - timedelta(days=3))
    accounts.activate(session, party, account, now=now - timedelta(days=3), wait_hours=24)
