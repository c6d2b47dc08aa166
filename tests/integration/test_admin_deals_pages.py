"""The deal and finance admin pages (server-rendered, Chinese), over the test client:
staff sign in through the login form and every POST carries the page's CSRF token."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from estate_platform.clock import SHANGHAI
from estate_platform.commissions.models import CommissionRule, SplitPolicyVersion
from estate_platform.db import db
from estate_platform.deals.models import Deal
from estate_platform.identity.models import StaffUser
from estate_platform.ledger import services as ledger
from tests.conftest import now
from tests.integration.test_staff_auth import csrf_from, login_page


def today() -> str:
    return now().astimezone(SHANGHAI).date().isoformat()


def sign_in(world, client, role: str) -> int:
    staff_id, username, password = world.staff(role)
    response = login_page(client, username, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return staff_id


def token(client, path: str = "/admin/deals/") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def market(world):
    """A project with a 2% rule on signing, the platform's split policy, and a buyer
    registered by an operating consultant."""
    consultant = world.operating_consultant(name="丙")
    project = world.project(name="金陵府")
    world.commission_rule(project)
    world.split_policy()
    phone = "13912345678"
    world.register(consultant, project, phone=phone, name="周先生")
    return {"consultant": consultant, "project": project, "phone": phone}


def deal_form(market, **fields) -> dict:
    return {"project_id": str(market["project"]), "buyer_phone": market["phone"], "unit": "3栋1201",
            "price": "3000000", "subscribed_on": today(), **fields}


def test_the_list_and_the_detail_are_in_chinese_with_masked_phones_and_yuan(world, client, market):
    deal = world.deal(market["project"], market["phone"], unit="1-101", price_cents=300_000_000)
    world.stage(deal["id"], "signed")
    sign_in(world, client, "finance")

    listing = text_of(client.get("/admin/deals/"))
    for expected in ("成交记录", "认购日期", "金陵府", "1-101", "周先生", "139****5678", "丙", "¥3,000,000.00",
                     "¥60,000.00", "网签", "已确认", today()):
        assert expected in listing, expected
    assert "13912345678" not in listing
    assert "1-101" in text_of(client.get(f"/admin/deals/?project_id={market['project']}&stage=signed"))
    assert "1-101" not in text_of(client.get("/admin/deals/?stage=subscribed"))
    assert client.get("/admin/deals/?stage=bogus").status_code == 400

    detail = text_of(client.get(f"/admin/deals/{deal['id']}"))
    for expected in ("成交信息", "证据链", "校验通过", "录入认购", "阶段变更", "认购 → 网签", "佣金分配明细",
                     "平台服务费", "成交顾问", "定价快照", "按成交价比例：2%", "¥60,000.00", "等于佣金 ¥60,000.00",
                     "标记为放款", "标记为全款到账", "更正成交价", "退房"):
        assert expected in detail, expected
    # Without a referrer or uplines: fee 10% = 6,000.00, the serving consultant keeps 54,000.00.
    assert "¥6,000.00" in detail and "¥54,000.00" in detail


def test_recording_a_deal_through_the_form_keeps_the_price_to_the_cent(world, client, app, market):
    sign_in(world, client, "finance")
    response = client.post("/admin/deals/new", data={**deal_form(market, price="3000000.05"),
                                                      "csrf_token": token(client, "/admin/deals/new")})
    assert response.status_code == 302, text_of(response)
    with app.app_context():
        deal = db.session.scalars(select(Deal)).one()
        assert (deal.price_cents, deal.unit, deal.stage, deal.project_id) == (300_000_005, "3栋1201", "subscribed",
                                                                              market["project"])
        # 2% of 3,000,000.05 元 = 60,000.001 元, rounded half up to the cent.
        assert deal.commission_cents == 6_000_000
    assert response.headers["Location"].endswith(f"/admin/deals/{deal.id}")
    detail = text_of(client.get(response.headers["Location"]))
    assert "已录入成交" in detail and "¥3,000,000.05" in detail and "佣金未确认" in detail


@pytest.mark.parametrize("price, message", [("12.345", "最多保留两位小数"), ("3,000,000.001", "最多保留两位小数"),
                                            ("1e6", "最多两位小数"), ("-5", "最多两位小数"), ("0", "须大于 0 元")])
def test_a_bad_price_is_refused_on_the_form_and_nothing_changes(world, client, counts, market, price, message):
    sign_in(world, client, "finance")
    csrf = token(client, "/admin/deals/new")
    before = counts()
    response = client.post("/admin/deals/new", data={**deal_form(market, price=price, unit="9-909"),
                                                      "csrf_token": csrf})
    page = text_of(response)
    assert response.status_code == 422
    assert message in page and "提交的数据有误" in page
    assert 'value="9-909"' in page and f'value="{price}"' in page and 'value="13912345678"' in page
    assert counts() == before


def test_service_refusals_are_shown_on_the_form_keeping_the_typed_values(world, client, counts, market):
    sign_in(world, client, "finance")
    csrf = token(client, "/admin/deals/new")
    before = counts()
    unregistered = client.post("/admin/deals/new", data={**deal_form(market, buyer_phone="13700001111"),
                                                          "csrf_token": csrf})
    page = text_of(unregistered)
    assert unregistered.status_code == 409 and "没有有效报备" in page and 'value="13700001111"' in page
    invalid = client.post("/admin/deals/new", data={**deal_form(market, buyer_phone="12345", unit=" "),
                                                     "csrf_token": csrf})
    page = text_of(invalid)
    assert invalid.status_code == 422 and "请输入有效的中国大陆手机号" in page and "请填写房号" in page
    assert counts() == before

    assert client.post("/admin/deals/new", data={**deal_form(market), "csrf_token": csrf}).status_code == 302
    sold = client.post("/admin/deals/new", data={**deal_form(market), "csrf_token": csrf})
    assert sold.status_code == 409 and "该房号已有未退房的成交记录" in text_of(sold)


def test_site_staff_see_only_their_developers_deals_and_never_the_lines(world, client, app, market):
    staff_id = sign_in(world, client, "site_staff")
    with app.app_context():
        developer_id = db.session.get(StaffUser, staff_id).developer_id
    own_project = world.project(name="自家楼盘", developer_id=developer_id)
    world.commission_rule(own_project)
    world.register(market["consultant"], own_project, phone="13912340000", name="吴女士")
    own = world.deal(own_project, "13912340000", unit="A-1")
    other = world.deal(market["project"], market["phone"], unit="B-2")

    listing = text_of(client.get("/admin/deals/"))
    assert "A-1" in listing and "B-2" not in listing
    hidden = client.get(f"/admin/deals/{other['id']}")
    assert hidden.status_code == 404 and "成交记录不存在" in text_of(hidden)
    assert hidden.headers["Content-Type"].startswith("text/html")

    # Site staff move their own deal to 网签 from the page; the commission is recognised,
    # but the split lines and the pricing snapshot stay finance's.
    csrf = token(client, f"/admin/deals/{own['id']}")
    signed = client.post(f"/admin/deals/{own['id']}/stage", data={"stage": "signed", "on": today(),
                                                                   "csrf_token": csrf})
    assert signed.status_code == 302
    detail = text_of(client.get(f"/admin/deals/{own['id']}"))
    assert "已标记为「网签」" in detail and "佣金已确认" in detail
    assert "佣金分配明细" not in detail and "定价快照" not in detail and "平台服务费" not in detail
    assert "更正成交价" not in detail
    assert client.post(f"/admin/deals/{own['id']}/price", data={"price": "1", "reason": "x",
                                                                 "csrf_token": csrf}).status_code == 403
    assert client.post(f"/admin/deals/{other['id']}/stage", data={"stage": "signed",
                                                                   "csrf_token": csrf}).status_code == 404
    assert client.get("/admin/finance/ledger").status_code == 403
    new_form = text_of(client.get("/admin/deals/new"))
    assert "自家楼盘" in new_form and "金陵府" not in new_form


def test_operations_read_rules_and_deals_but_cannot_post_a_rule(world, client, app, market):
    sign_in(world, client, "operations")
    page = client.get(f"/admin/finance/commission-rules?project_id={market['project']}")
    assert page.status_code == 200
    html = text_of(page)
    assert "2020-01-01" in html and "成交价 × 2%" in html and "只能查看" in html and "新增版本" not in html
    refused = client.post(f"/admin/finance/commission-rules?project_id={market['project']}",
                          data={"effective_from": "2030-01-01", "basis": "rate", "rate": "3", "trigger": "signed",
                                "payment_terms_days": "30", "csrf_token": csrf_from(html)})
    assert refused.status_code == 403 and "您的角色无权访问此功能" in text_of(refused)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CommissionRule)) == 1
    assert client.get("/admin/deals/").status_code == 200
    assert client.get("/admin/deals/new").status_code == 403
    assert client.get("/admin/finance/ledger").status_code == 403
    assert client.get("/admin/finance/referrals").status_code == 200


def test_finance_creates_a_tiered_rule_and_bad_rates_are_shown_beside_their_row(world, client, app, market):
    sign_in(world, client, "finance")
    path = f"/admin/finance/commission-rules?project_id={market['project']}"
    csrf = token(client, path)
    form = {"effective_from": "2031-02-01", "basis": "rate", "rate": "2.5", "tier_metric": "units",
            "trigger": "loan_disbursed", "payment_terms_days": "45", "text": "第 5 套起 3%，第 10 套起 3.25%",
            "tier0_threshold": "", "tier1_threshold": "5", "tier1_rate": "3", "tier2_threshold": "10",
            "tier2_rate": "3.25", "csrf_token": csrf}
    bad = client.post(path, data={**form, "tier2_rate": "3.255"})
    assert bad.status_code == 422 and "百分比最多保留两位小数" in text_of(bad)
    created = client.post(path, data=form)
    assert created.status_code == 302, text_of(created)
    with app.app_context():
        rule = db.session.scalars(select(CommissionRule).where(CommissionRule.effective_from.isnot(None))
                                  .order_by(CommissionRule.id.desc())).first()
        assert (rule.rate_bps, rule.tier_metric, rule.trigger, rule.payment_terms_days) == (250, "units",
                                                                                             "loan_disbursed", 45)
        assert [(t.threshold, t.rate_bps) for t in rule.tiers] == [(5, 300), (10, 325)]
    listing = text_of(client.get(path))
    assert "已新增佣金规则版本" in listing and "第 5 套起：成交价 × 3%" in listing and "成交价 × 3.25%" in listing
    duplicate = client.post(path, data=form)
    assert duplicate.status_code == 409 and "该生效日期已有一个版本" in text_of(duplicate)
    # A service refusal lands beside its own row: the filled rows are shown first, as the service numbers them.
    refused = client.post(path, data={**form, "effective_from": "2032-01-01", "tier2_rate": "0"})
    page = text_of(refused)
    assert refused.status_code == 422 and "费率须为 1–10000 个基点" in page
    assert re.search(r'name="tier0_threshold" value="5".{0,800}name="tier1_threshold" value="10"', page, re.S)
    assert re.search(r'name="tier1_rate" value="0"[^<]*><span class="field-error">费率须为', page)


def test_split_policies_platform_default_project_override_and_a_third_level_refused(world, client, app, market):
    sign_in(world, client, "finance")
    csrf = token(client, "/admin/finance/split-policies")
    base = {"effective_from": "2031-01-01", "platform_fee": "8", "referral": "20", "upline1": "10",
            "upline2": "5", "buyer_reward": "2000", "csrf_token": csrf}
    refused = client.post("/admin/finance/split-policies", data={**base, "upline3": "2"})
    page = text_of(refused)
    assert refused.status_code == 422 and "上级分成最多 2 级（不允许三级及以上分销）" in page
    assert 'value="2"' in page  # the typed third level is kept
    assert client.post("/admin/finance/split-policies", data=base).status_code == 302
    override = client.post("/admin/finance/split-policies",
                           data={**base, "project_id": str(market["project"]), "upline2": "", "upline1": ""})
    assert override.status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(SplitPolicyVersion).order_by(SplitPolicyVersion.id)).all()
        assert [(p.project_id, p.platform_fee_bps, p.max_upline_levels, p.upline_l1_bps, p.upline_l2_bps,
                 p.buyer_referral_reward_cents) for p in rows[1:]] == [
            (None, 800, 2, 1000, 500, 200_000), (market["project"], 800, 0, 0, 0, 200_000)]
    defaults = text_of(client.get("/admin/finance/split-policies"))
    assert "平台默认方案" in defaults and "1 级 10%，2 级 5%" in defaults and "¥2,000.00" in defaults
    project_page = text_of(client.get(f"/admin/finance/split-policies?project_id={market['project']}"))
    assert "金陵府 覆盖方案" in project_page and "不设" in project_page


def test_the_ledger_page_balances_to_zero_after_a_deal_signed_on_the_page(world, client, app, market):
    sign_in(world, client, "finance")
    assert client.post("/admin/deals/new", data={**deal_form(market),
                                                 "csrf_token": token(client)}).status_code == 302
    with app.app_context():
        deal_id = db.session.scalars(select(Deal.id)).one()
    signed = client.post(f"/admin/deals/{deal_id}/stage", data={"stage": "signed", "on": today(),
                                                                 "csrf_token": token(client)})
    assert signed.status_code == 302
    page = text_of(client.get("/admin/finance/ledger"))
    assert re.search(r'id="ledger-total">¥0\.00<', page)
    assert "借贷平衡" in page and "借贷不平衡" not in page and "无：每笔交易的分录之和均为 0" in page
    for expected in ("开发商", "应收佣金", "平台", "平台收入", "顾问", "待结算佣金", "¥60,000.00", "¥6,000.00",
                     "¥54,000.00"):
        assert expected in page, expected
    with app.app_context():
        assert ledger.total(db.session) == 0


def test_the_recognise_button_posts_due_deals_once(world, client, app, market, monkeypatch):
    from estate_platform.deals import recognition
    deal = world.deal(market["project"], market["phone"])
    with monkeypatch.context() as patched:  # reach the trigger without recognising: the batch's work
        patched.setattr(recognition, "recognise", lambda *args, **kwargs: 0)
        world.stage(deal["id"], "signed")
    sign_in(world, client, "finance")
    page = text_of(client.get("/admin/finance/ledger"))
    assert "暂无分录" in page and "尚未记账的成交 1 笔" in page
    response = client.post("/admin/finance/ledger/recognise", data={"csrf_token": csrf_from(page)},
                           follow_redirects=True)
    page = text_of(response)
    assert "已确认 1 笔成交的佣金" in page and re.search(r'id="ledger-total">¥0\.00<', page)
    again = client.post("/admin/finance/ledger/recognise", data={"csrf_token": csrf_from(page)},
                        follow_redirects=True)
    assert "没有到期待确认的佣金" in text_of(again)
    with app.app_context():
        assert db.session.get(Deal, deal["id"]).recognised is True


def test_cancel_needs_a_reason_and_a_price_correction_reprices(world, client, app, market, counts):
    deal = world.deal(market["project"], market["phone"])
    world.stage(deal["id"], "signed")
    sign_in(world, client, "finance")
    csrf = token(client, f"/admin/deals/{deal['id']}")
    before = counts()
    no_reason = client.post(f"/admin/deals/{deal['id']}/cancel", data={"reason": " ", "csrf_token": csrf},
                            follow_redirects=True)
    assert "请填写退房原因" in text_of(no_reason) and counts() == before
    bad_date = client.post(f"/admin/deals/{deal['id']}/stage", data={"stage": "paid_in_full", "on": "2001-01-01",
                                                                     "csrf_token": csrf}, follow_redirects=True)
    assert "日期须在认购日与今天之间" in text_of(bad_date) and counts() == before
    corrected = client.post(f"/admin/deals/{deal['id']}/price", data={"price": "2500000.10", "reason": "合同更正",
                                                                       "csrf_token": csrf}, follow_redirects=True)
    page = text_of(corrected)
    assert "成交价已更正为 ¥2,500,000.10，佣金 ¥50,000.00" in page and "等于佣金 ¥50,000.00" in page
    assert "成交价更正" in page and "合同更正" in page
    cancelled = client.post(f"/admin/deals/{deal['id']}/cancel", data={"reason": "客户退房", "csrf_token": csrf},
                            follow_redirects=True)
    page = text_of(cancelled)
    assert "已退房" in page and "佣金已冲回" in page and "客户退房" in page and "标记为放款" not in page
    with app.app_context():
        assert db.session.get(Deal, deal["id"]).stage == "cancelled" and ledger.total(db.session) == 0


def test_a_post_without_the_csrf_token_is_refused(world, client, counts, market):
    sign_in(world, client, "finance")
    before = counts()
    for path, data in (("/admin/deals/new", deal_form(market)),
                       ("/admin/finance/ledger/recognise", {}),
                       ("/admin/finance/split-policies", {"effective_from": "2031-01-01", "platform_fee": "5"})):
        refused = client.post(path, data=data)
        assert refused.status_code == 400 and "页面已过期，请刷新后重试" in text_of(refused), path
        wrong = client.post(path, data={**data, "csrf_token": "forged"})
        assert wrong.status_code == 400, path
    assert counts() == before


def test_the_referral_reports_rank_consultants_and_find_the_super_users(world, client, market):
    deal = world.deal(market["project"], market["phone"], price_cents=500_000_000)
    sign_in(world, client, "operations")
    page = text_of(client.get(f"/admin/finance/referrals?start={today()}&end={today()}&by=deals"))
    for expected in ("顾问排行榜", "超级用户", "按成交套数", "按成交额", "两者兼顾", "丙", "¥5,000,000.00",
                     "本期共 1 套", "80%"):
        assert expected in page, expected
    empty = text_of(client.get("/admin/finance/referrals?start=2001-01-01&end=2001-01-31"))
    assert "本期无成交" in empty and "本期共 0 套" in empty
    assert client.get("/admin/finance/referrals?start=nonsense").status_code == 400
    assert deal["id"]
