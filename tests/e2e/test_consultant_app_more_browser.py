"""The consultant app's guard, credit and team pages (issue 17), on a 390 × 844 phone in Chromium.

林晓 opens his home and sees today's visit to accompany, answers a dispute with a photo of
the visit form before its deadline, files a complaint (a refused empty title shows next to
its field), reads his credit and its history, objects to the sales office's cancellation of
his deal, follows a message to what it is about, and finds himself on the leaderboard. A
newcomer proves his phone by SMS code as he applies; a consultant who joined before is asked
to verify it at his next sign-in. Every page is photographed, checked not to scroll
sideways and to have no tap target under 44 px; no console error, no 5xx, no request
leaving the app, and the only refused calls are the ones the story expects.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from estate_platform.clock import local_date
from tests.conftest import now
from tests.e2e.test_consultant_app_browser import (  # noqa: F401 (the fixtures phones and patient_expectations)
    SMALL_TAP_TARGETS, patient_expectations, phones, sign_in)

pytestmark = pytest.mark.chromium

MP = "/api/mp/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture
def guards(world, client, app):
    """林晓's world: a visit today, a dispute against him, credit history, a signed deal whose
    cancellation the sales office asked for, and a colleague with more deals."""
    from estate_platform.credit import services as credit
    from estate_platform.db import db
    from estate_platform.identity.models import StaffUser

    lin = world.operating_consultant(name="林晓")
    chen = world.operating_consultant(name="陈静")
    site_id, site_user, site_password = world.staff("site_staff")
    with app.app_context():
        developer_id = db.session.get(StaffUser, site_id).developer_id
    project = world.project(name="滨江·悦府", developer_id=developer_id)
    world.commission_rule(project)
    world.split_policy()

    visited = world.register(lin, project, name="钱女士")
    when = now() + timedelta(minutes=3)
    visit = ok(client.post(f"{MP}/registrations/{visited['id']}/visits", headers=lin.auth,
                           json={"scheduled_at": when.isoformat()}), 201)
    lost = world.register(lin, project, name="孙先生")
    dispute = ok(client.post("/admin/api/v1/disputes", headers=world.staff_auth("operations"), json={
        "registration_id": visited["id"], "respondent_kind": "consultant",
        "subject": "回访：客户表示到访时未见顾问陪同", "summary": "请说明带看经过并提供来访确认单。",
        "idempotency_key": "e2e-lin-1"}), 201)

    sold = world.register(lin, project, name="周先生")
    deal = world.deal(project, sold["buyer_phone"], unit="5栋-2201", price_cents=450_000_000)
    world.stage(deal["id"], "signed")
    for _ in range(2):
        phone = world.next_buyer_phone()
        world.register(chen, project, phone=phone, name="吴女士")
        world.deal(project, phone)
    site = ok(client.post("/admin/api/v1/auth/login", json={"username": site_user, "password": site_password}))
    request = ok(client.post(f"/admin/api/v1/deals/{deal['id']}/cancel", json={"reason": "客户贷款未获批申请退房"},
                             headers={"Authorization": f"Bearer {site['token']}"}), 202)
    with app.app_context():
        credit.adjust(db.session, lin.id, -5, reason_code="risk_flag", reason_text="风控预警：报备后 4 分钟即到访",
                      ref="e2e:risk", now=now() - timedelta(days=3))
        credit.adjust(db.session, lin.id, 1, reason_code="tenure", reason_text="合作满 1 个月", ref="e2e:tenure",
                      now=now() - timedelta(days=1))
        db.session.commit()
    return {"lin": lin, "visit": visit, "today": local_date(when) == local_date(now()), "dispute": dispute,
            "lost": lost, "deal": deal, "request": request, "project": project}


def test_a_consultant_answers_a_dispute_reads_his_credit_objects_to_a_cancellation_and_sees_the_board(
        phones, guards, client, app):
    lin = guards["lin"]
    phone = phones("lin-guards")
    tab = sign_in(phone, lin.openid)

    # Home: the visit to accompany, marked today; his phone is verified, so no prompt.
    visits = tab.locator("#task-visits")
    expect(visits).to_contain_text("钱女士 · 滨江·悦府")
    expect(visits).to_contain_text(guards["visit"]["check_in_code"])
    if guards["today"]:
        expect(visits.locator(".pill", has_text="今天")).to_be_visible()
        expect(tab.locator("#visits-today")).to_have_text("今天 1 场")
    expect(tab.locator("#verify-phone")).to_be_hidden()
    phone.snap("50-home-visits")
    tab.get_by_role("link", name="全部带看").tap()
    tab.wait_for_url(re.compile(r"/m/visits$"))
    expect(tab.locator("#visits-list")).to_contain_text("钱女士" if guards["today"] else "今天没有预约的带看")
    tab.locator("#visit-tabs").get_by_role("button", name="待到访").tap()
    expect(tab.locator("#visits-list .item")).to_contain_text(f"核销码 {guards['visit']['check_in_code']}")
    phone.snap("51-visits")

    # The dispute: read it and answer before the deadline with a photo of the visit form.
    tab.goto("/m/me")
    tab.get_by_role("link", name="我的争议").tap()
    item = tab.locator("#dispute-list a", has_text="回访：客户表示到访时未见顾问陪同")
    expect(item).to_contain_text("被投诉方")
    expect(item).to_contain_text("前陈述")
    phone.snap("52-disputes")
    item.tap()
    expect(tab.locator("#dp-role")).to_have_text("被投诉方")
    expect(tab.locator("#dp-other")).to_have_text("平台")
    expect(tab.locator("#statement-list")).to_contain_text("您还没有提交陈述")
    tab.get_by_role("button", name="提交陈述").tap()
    expect(tab.locator('[data-error-for="text"]')).to_have_text("请填写陈述内容")
    tab.get_by_label("陈述内容").fill("当天 14:30 我陪同客户到访，来访确认单有客户签字。")
    tab.get_by_label("证据附件").set_input_files(files=[{"name": "来访确认单.png", "mimeType": "image/png",
                                                        "buffer": PNG}])
    expect(tab.locator("#s-file-list")).to_have_text("来访确认单.png")
    tab.get_by_role("button", name="提交陈述").tap()
    statement = tab.locator("#statement-list .item").first
    expect(statement).to_contain_text("来访确认单有客户签字")
    expect(statement).to_contain_text("来访确认单.png")
    expect(tab.locator("#event-list")).to_contain_text("当事人提交陈述")
    phone.snap("53-dispute-answered")
    detail = ok(client.get(f"{MP}/disputes/{guards['dispute']['id']}", headers=lin.auth))
    [mine] = detail["my_statements"]
    assert [(a["filename"], a["content_type"], a["size_bytes"]) for a in mine["attachments"]] == [
        ("来访确认单.png", "image/png", len(PNG))]

    # A complaint: the API's refusal of an empty title shows next to the title.
    tab.goto(f"/m/disputes/new?registration_id={guards['lost']['id']}")
    expect(tab.get_by_label("被截走的客户（我的报备）")).to_have_value(str(guards["lost"]["id"]))
    tab.get_by_label("投诉对象").select_option("developer")
    tab.get_by_label("经过说明").fill("客户告诉我已在案场直接认购。")
    tab.get_by_role("button", name="提交投诉").tap()
    expect(tab.locator('[data-error-for="subject"]')).not_to_be_empty()
    expect(tab.get_by_label("标题")).to_have_attribute("aria-invalid", "true")
    phone.snap("54-complaint-refused")
    tab.get_by_label("标题").fill("开发商绕开平台直接成交")
    tab.get_by_role("button", name="提交投诉").tap()
    tab.wait_for_url(re.compile(r"/m/disputes/\d+$"))
    expect(tab.locator("#dp-role")).to_have_text("投诉人")
    expect(tab.locator("#dp-other")).to_have_text("开发商")
    expect(tab.locator("#withdraw-form")).to_be_visible()
    phone.snap("55-complaint")

    # Credit and its history.
    tab.goto("/m/credit")
    expect(tab.locator("#credit-score")).to_have_text("76")
    history = tab.locator("#credit-list .item")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("合作时长")
    expect(history.first).to_contain_text("+1")
    expect(history.nth(1)).to_contain_text("-5")
    phone.snap("56-credit")

    # The sales office asked to cancel his deal: he objects from the deal page.
    tab.goto(f"/m/deals/{guards['deal']['id']}")
    card = tab.locator("#deal-requests-card")
    expect(card).to_contain_text("客户贷款未获批申请退房")
    card.get_by_label("异议内容").fill("客户贷款已获批，并未退房，请核实。")
    card.get_by_role("button", name="提出异议").tap()
    expect(card.get_by_role("button", name="修改异议")).to_be_visible()
    phone.snap("57-deal-objection")
    [objected] = ok(client.get(f"{MP}/deal-requests?status=pending", headers=lin.auth))["items"]
    assert objected["objection"] == "客户贷款已获批，并未退房，请核实。"

    # The message about it leads to the request, which shows his objection.
    tab.goto("/m/notifications")
    expect(tab.locator("#notification-list")).to_contain_text("您被提起争议")
    phone.snap("58-notifications")
    message = tab.locator("#notification-list li", has_text="案场申请将").first
    message.get_by_role("link", name="查看申请并提出异议").tap()
    tab.wait_for_url(re.compile(rf"/m/deal-requests#request-{guards['request']['id']}$"))
    item = tab.locator(f"#request-{guards['request']['id']}")
    expect(item).to_contain_text("退房 · 滨江·悦府 5栋-2201")
    expect(item.get_by_label("异议内容")).to_have_value("客户贷款已获批，并未退房，请核实。")
    phone.snap("59-deal-requests")

    # The team page's leaderboard: 陈 (masked) ahead with two deals, him second.
    tab.goto("/m/team")
    board = tab.locator("#board-list")
    expect(board.locator("li").first).to_contain_text("陈*")
    expect(board.locator("li.me")).to_contain_text("林晓（我）")
    expect(tab.locator("#board-me")).to_contain_text("本月您排第 2 名，成交 1 套")
    expect(board).not_to_contain_text("陈静")
    phone.snap("60-team-board")
    tab.goto("/m/me")
    expect(tab.locator("#me-verify")).to_be_hidden()
    phone.snap("61-me")

    assert phone.problems == []
    assert phone.refused == [(422, "POST", f"{MP}/disputes")]
    assert len(phone.shots) == 12


def test_a_newcomer_proves_his_phone_by_sms_code_as_he_applies(phones, world, app, client):
    world.publish_agreement()
    number = world.next_phone()
    phone = phones("join-code")
    tab = phone.tab
    tab.goto("/m/signin?next=/m/join")
    tab.get_by_label("openid").fill("o-join-with-code")
    tab.get_by_role("button", name="以 dev 身份登录").tap()
    tab.wait_for_url(re.compile(r"/m/join$"))
    tab.get_by_label("姓名").fill("孙俪")
    tab.get_by_label("手机号").fill(number)
    tab.get_by_label("所在城市").fill("南京")
    tab.get_by_label("顾问类型").select_option("independent")
    tab.get_by_role("button", name="提交申请").tap()
    expect(tab.locator('[data-error-for="phone_code"]')).to_have_text("请先获取并填写 6 位短信验证码")
    tab.get_by_role("button", name="获取验证码").tap()
    expect(tab.locator("#join-sms-status")).to_contain_text("验证码已发送")
    expect(tab.get_by_role("button", name=re.compile(r"秒后重发"))).to_be_disabled()
    code = app.extensions["adapters"].sms.last_code("+86" + number)
    wrong = "000000" if code != "000000" else "111111"
    tab.get_by_label("短信验证码").fill(wrong)
    tab.get_by_role("button", name="提交申请").tap()
    expect(tab.locator('[data-error-for="phone_code"]')).to_have_text("验证码错误，还可尝试 4 次")
    expect(tab.get_by_label("短信验证码")).to_have_attribute("aria-invalid", "true")
    phone.snap("62-join-code")
    tab.get_by_label("短信验证码").fill(code)
    tab.get_by_role("button", name="提交申请").tap()
    tab.wait_for_url(re.compile(r"/m/join/agreement$"))
    session_token = tab.evaluate("""fetch('/m/session/token', {method: 'POST', headers: {'X-Requested-With': 'fetch'}})
                                     .then(r => r.json()).then(d => d.token)""")
    me = ok(client.get(f"{MP}/consultants/me", headers={"Authorization": f"Bearer {session_token}"}))
    assert me["phone_verified"] is True and me["name"] == "孙俪"
    assert phone.problems == []
    assert phone.refused == [(400, "POST", f"{MP}/consultants")]  # the wrong code, once


def test_a_consultant_who_joined_before_verifies_his_phone_at_next_sign_in(phones, world, app, client):
    consultant = world.operating_consultant(name="周琳", phone_verified=False)
    phone = phones("verify")
    tab = sign_in(phone, consultant.openid)
    prompt = tab.locator("#verify-phone")
    expect(prompt).to_be_visible()
    phone.snap("63-home-verify-prompt")
    tab.goto("/m/me")
    expect(tab.locator("#me-phone")).to_contain_text("（未验证）")
    expect(tab.get_by_role("link", name="去验证")).to_be_visible()
    phone.snap("63-me-unverified")
    tab.goto("/m/")
    prompt.get_by_role("link", name="立即验证手机号").tap()
    tab.wait_for_url(re.compile(r"/m/me/phone\?next="))
    tab.get_by_role("button", name="获取验证码").tap()
    expect(tab.locator("#phone-sms-status")).to_contain_text("验证码已发送")
    me = ok(client.get(f"{MP}/consultants/me", headers=consultant.auth))
    code = app.extensions["adapters"].sms.last_code("+86" + me["phone"].replace(" ", ""))
    tab.get_by_label("短信验证码").fill(code)
    phone.snap("64-verify-phone")
    tab.get_by_role("button", name="验证").tap()
    tab.wait_for_url(re.compile(r"/m/$"))
    expect(tab.locator("#hello")).to_have_text("你好，周琳")
    expect(tab.locator("#verify-phone")).to_be_hidden()
    assert ok(client.get(f"{MP}/consultants/me", headers=consultant.auth))["phone_verified"] is True
    assert phone.problems == [] and phone.refused == []


@pytest.mark.parametrize("width", [360, 414])
def test_the_new_pages_fit_the_narrowest_and_widest_phones(browser, live_server, guards, width):
    context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto("/m/signin")
        tab.get_by_label("openid").fill(guards["lin"].openid)
        tab.get_by_role("button", name="以 dev 身份登录").tap()
        tab.wait_for_url(re.compile(r"/m/$"))
        for path in ("/m/visits", "/m/disputes", f"/m/disputes/{guards['dispute']['id']}", "/m/disputes/new",
                     "/m/credit", "/m/deal-requests", f"/m/deals/{guards['deal']['id']}", "/m/team", "/m/me/phone",
                     "/m/payout", "/m/statements", "/m/earnings", "/m/notifications"):
            tab.goto(path)
            tab.wait_for_load_state("networkidle")
            expect(tab.locator(".state.loading:visible")).to_have_count(0)
            assert tab.evaluate("document.documentElement.scrollWidth") <= width, path
            assert tab.evaluate(SMALL_TAP_TARGETS) == [], path
    finally:
        context.close()
    assert errors == []


def test_a_consultant_confirms_his_payout_account_by_sms_and_reads_downloads_and_prints_a_statement(
        phones, world, client, app):
    from tests.integration.settlement_scene import age_accounts, credit, finance_token, id_number

    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)
    li = world.operating_consultant(name="李独立")
    phone = phones("payout")
    tab = sign_in(phone, li.openid)

    # The account: masked once saved, confirmed by the code sent to his verified phone.
    tab.goto("/m/payout")
    expect(tab.locator("#account-list")).to_contain_text("还没有收款账户")
    expect(tab.get_by_label("户名")).to_have_value("李独立")
    tab.get_by_label("开户银行（含支行）").fill("招商银行南京河西支行")
    tab.get_by_label("银行账号").fill("6225 8801 1234 5678")
    tab.get_by_label("身份证号").fill("110105194912310000")
    tab.get_by_role("button", name="下一步：短信验证").tap()
    expect(tab.locator('[data-error-for="id_number"]')).to_have_text("身份证号无效（18 位，校验位不符）")
    tab.get_by_label("身份证号").fill(id_number(2))
    tab.get_by_role("button", name="下一步：短信验证").tap()
    expect(tab.locator("#code-form")).to_be_visible()
    expect(tab.locator("#account-list")).to_contain_text("待短信验证")
    expect(tab.locator("#account-list")).not_to_contain_text("6225880112345678")
    tab.get_by_role("button", name="获取验证码").tap()
    expect(tab.locator("#account-sms-status")).to_contain_text("验证码已发送")
    me = ok(client.get(f"{MP}/consultants/me", headers=li.auth))
    tab.get_by_label("短信验证码").fill(app.extensions["adapters"].sms.last_code("+86" + me["phone"].replace(" ", "")))
    tab.get_by_role("button", name="确认账户").tap()
    account = tab.locator("#account-list .item").first
    expect(account).to_contain_text("已验证")
    expect(account).to_contain_text("5678")
    expect(account).to_contain_text("等待期中")
    expect(tab.locator("#code-form")).to_be_hidden()
    phone.snap("65-payout-account")

    # A settlement pays him: the statement, its XLSX and its printed form.
    credit(app, "consultant", li.id, available=500_000)
    age_accounts(app)
    maker, checker, second = (finance_token(world, client) for _ in range(3))
    batch = ok(client.post("/admin/api/v1/settlements", json={}, headers=maker), 201)
    for approver in (checker, second):
        ok(client.post(f"/admin/api/v1/settlements/{batch['id']}/approve", headers=approver))
    tab.goto("/m/earnings")
    tab.get_by_role("link", name="对账单").tap()
    item = tab.locator("#statement-list a").first
    expect(item).to_contain_text(f"结算批次 #{batch['id']}")
    expect(item).to_contain_text("实发 ¥4,200.00")
    phone.snap("66-statements")
    item.tap()
    expect(tab.locator("#st-lines")).to_contain_text("¥5,000.00")
    expect(tab.locator("#st-net")).to_have_text("¥4,200.00")
    expect(tab.locator("#st-account")).to_contain_text("5678")
    phone.snap("67-statement")
    with tab.expect_download() as caught:
        tab.get_by_role("button", name="下载对账单（XLSX）").tap()
    saved = caught.value.path()
    assert saved is not None and open(saved, "rb").read(2) == b"PK"  # an XLSX is a zip
    tab.emulate_media(media="print")
    expect(tab.locator("header.topbar")).to_be_hidden()
    expect(tab.get_by_role("button", name="打印对账单")).to_be_hidden()
    expect(tab.locator("#st-lines .kv.total")).to_contain_text("¥4,200.00")
    tab.screenshot(path=str(phone.artifacts_dir / "consultant-app-68-statement-print.png"), full_page=True)

    assert phone.problems == []
    assert phone.refused == [(422, "POST", f"{MP}/payout-accounts")]


def test_a_company_consultant_uploads_the_invoice_his_statement_waits_for(phones, world, client, app):
    from tests.integration.settlement_scene import add_verified_account, age_accounts, credit, finance_token

    app.config.update(SMS_PHONE_INTERVAL_SECONDS=0, SMS_PHONE_HOURLY_LIMIT=100, SMS_IP_HOURLY_LIMIT=1000)
    wu = world.operating_consultant(name="吴经理", kind="company", company_name="南京安居房产经纪有限公司")
    add_verified_account(client, app, wu, holder_name="南京安居房产经纪有限公司")
    credit(app, "consultant", wu.id, available=800_000)
    age_accounts(app)
    batch = ok(client.post("/admin/api/v1/settlements", json={}, headers=finance_token(world, client)), 201)
    [statement] = ok(client.get(f"{MP}/statements", headers=wu.auth))["items"]
    assert statement["batch_id"] == batch["id"] and statement["invoice_required"] is True

    phone = phones("invoice")
    tab = sign_in(phone, wu.openid)
    tab.goto("/m/statements")
    expect(tab.locator("#statement-list .item").first).to_contain_text("待上传发票")
    tab.locator("#statement-list a").first.tap()
    form = tab.locator("#invoice-form")
    expect(form).to_be_visible()
    expect(tab.get_by_label("发票金额（元）")).to_have_value("8000.00")
    tab.get_by_label("发票号码").fill("No.001")
    tab.get_by_label("发票金额（元）").fill("7000.00")
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    tab.get_by_label("发票文件（PDF、JPG 或 PNG，不超过 5 MB）").set_input_files(
        files=[{"name": "fapiao.pdf", "mimeType": "application/pdf", "buffer": pdf}])
    tab.get_by_role("button", name="上传发票").tap()
    expect(tab.locator('[data-error-for="amount"]')).to_contain_text("8000.00")
    expect(tab.get_by_label("发票金额（元）")).to_have_attribute("aria-invalid", "true")
    phone.snap("69-invoice-refused")
    tab.get_by_label("发票金额（元）").fill("8000.00")
    tab.get_by_role("button", name="上传发票").tap()
    expect(form).to_be_hidden()
    assert ok(client.get(f"{MP}/statements/{statement['id']}", headers=wu.auth))["invoice_required"] is False
    phone.snap("70-invoice-uploaded")
    assert phone.problems == []
    assert phone.refused == [(422, "POST", f"{MP}/statements/{statement['id']}/invoice")]
