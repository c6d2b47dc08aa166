"""A consultant's whole day in the consultant app (/m/), on a 390 × 844 phone in Chromium.

He signs in, reads his home page, registers a buyer (a second consultant trying the same
buyer is refused in plain Chinese), makes an invite link and opens its poster, books a
visit and shows its code, accepts a colleague's handoff, and reads a recognised deal's
commission line and his earnings. Every page is photographed into the artifacts
directory and checked not to scroll sideways; no page error, no console error, no 5xx,
no request leaving the app, and the only refused API call is the one the day expects.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from playwright.sync_api import Page, expect

from estate_platform.clock import SHANGHAI
from tests.conftest import now

pytestmark = pytest.mark.chromium

PHONE_VIEWPORT = {"width": 390, "height": 844}
WECHAT_ANDROID = ("Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5061 "
                  "MMWEBSDK/20230805 MMWEBID/1234 MicroMessenger/8.0.42.2460(0x28002A35) WeChat/arm64 "
                  "Weixin NetType/WIFI Language/zh_CN ABI/arm64")
# Everything a thumb taps (buttons, fields, list items, tabs, the bars' links; a checkbox
# counts by its label) that is shown and smaller than 44 px in height.
SMALL_TAP_TARGETS = """
[...document.querySelectorAll('button, .button, a.item, a.stat, .nav a, .topbar a, .grid-links a, input, select,'
                               + ' textarea, label.check')]
  .filter(el => el.offsetParent !== null && el.type !== 'checkbox' && el.type !== 'hidden')
  .map(el => [el.tagName + (el.id ? '#' + el.id : '') + ' ' + (el.textContent || el.name || '').trim().slice(0, 12),
              Math.round(el.getBoundingClientRect().height)])
  .filter(([, height]) => height < 44)
"""
CONSOLE_HTTP = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d")


class Phone:
    """One consultant's phone: a touch tab at 390 × 844 that records what must never happen."""

    def __init__(self, browser, live_server, name: str, artifacts_dir):
        self.context = browser.new_context(viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True,
                                           device_scale_factor=2, locale="zh-CN", timezone_id="Asia/Shanghai",
                                           user_agent=WECHAT_ANDROID, base_url=live_server.url)
        self.context.set_default_timeout(10_000)
        self.tab = self.context.new_page()
        self.name, self.artifacts_dir, self.base = name, artifacts_dir, live_server.url
        self.problems: list[str] = []
        self.refused: list[tuple[int, str, str]] = []
        self.shots: list[str] = []
        tab = self.tab
        tab.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        tab.on("console", self._console)
        tab.on("response", self._response)
        tab.on("request", lambda r: self.problems.append(f"external {r.url}")
               if not r.url.startswith((live_server.url, "data:", "blob:")) else None)

    def _console(self, message):
        # The browser also logs every 4xx fetch as a console error; those are checked one by one
        # in ``refused`` (each must be one the day expects), anything else is a defect.
        if message.type == "error" and not CONSOLE_HTTP.match(message.text):
            self.problems.append(f"console error: {message.text}")

    def _response(self, response):
        path = response.url[len(self.base):] if response.url.startswith(self.base) else response.url
        if response.status >= 500:
            self.problems.append(f"{response.status} {path}")
        elif response.status >= 400:
            self.refused.append((response.status, response.request.method, path.split("?")[0]))

    def open(self, path: str, ready: str) -> Page:
        self.tab.goto(path)
        expect(self.tab.locator(ready).first).to_be_visible()
        return self.tab

    def settle(self) -> None:
        self.tab.wait_for_load_state("networkidle")
        expect(self.tab.locator(".state.loading:visible")).to_have_count(0)

    def snap(self, name: str) -> None:
        """Photograph the whole page, after checking it fits the phone's width."""
        self.settle()
        scroll_width, inner_width = self.tab.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll_width <= inner_width, f"{name} scrolls sideways: {scroll_width}px > {inner_width}px"
        assert "Noto Sans CJK SC" in self.tab.evaluate("getComputedStyle(document.body).fontFamily")
        small = self.tab.evaluate(SMALL_TAP_TARGETS)
        assert small == [], f"{name}: tap targets under 44 px: {small}"
        self.tab.evaluate("window.scrollTo(0, 0)")  # the sticky bar at the top of the picture
        self.tab.screenshot(path=str(self.artifacts_dir / f"consultant-app-{name}.png"), full_page=True)
        self.shots.append(name)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(autouse=True)
def patient_expectations():
    """A page fills itself from several API calls: on a busy 2-core machine give each
    expectation the context's 10 s, not Playwright's 5 s default."""
    expect.set_options(timeout=10_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def phones(browser, live_server, artifacts_dir):
    opened: list[Phone] = []

    def make(name: str) -> Phone:
        phone = Phone(browser, live_server, name, artifacts_dir)
        opened.append(phone)
        return phone

    yield make
    for phone in opened:
        phone.close()


def sign_in(phone: Phone, openid: str) -> Page:
    tab = phone.tab
    tab.goto("/m/signin")
    expect(tab.get_by_role("heading", name="开发环境登录")).to_be_visible()
    tab.get_by_label("openid").fill(openid)
    tab.get_by_role("button", name="以 dev 身份登录").tap()
    tab.wait_for_url(re.compile(r"/m/$"))
    return tab


def tap_nav(tab: Page, label: str) -> None:
    tab.locator("nav.nav").get_by_role("link", name=label).tap()


@pytest.fixture
def day(world, client):
    """林晓 works 滨江·悦府; 陈静 works there too; 王磊 has a buyer for 林晓."""
    lin = world.operating_consultant(name="林晓", kind="company", company_name="安家置业建邺店")
    chen = world.operating_consultant(name="陈静")
    wang = world.operating_consultant(name="王磊")
    project_id = world.project(name="滨江·悦府", district="建邺区", address="江东中路 168 号",
                               description="地铁 2 号线旁，建面 89–143㎡ 三至四居。",
                               price_min_cents=320_000_000, price_max_cents=560_000_000)
    world.commission_rule(project_id, text="网签后按成交价 2% 结佣，30 天内回款")
    world.split_policy()
    offered = client.post("/api/mp/v1/handoffs", headers=wang.auth, json={
        "project_id": project_id, "buyer_name": "钱女士", "buyer_phone": world.next_buyer_phone(),
        "to_consultant_id": lin.id, "note": "想看三居，预算 450 万"})
    assert offered.status_code == 201, offered.get_json()
    return {"lin": lin, "chen": chen, "wang": wang, "project": project_id}


def test_a_consultants_whole_day_on_his_phone(phones, day, world, client, app):
    lin, chen = day["lin"], day["chen"]
    buyer_phone = world.next_buyer_phone()
    phone = phones("lin")

    # Sign in and see home: the handoff waiting for him is today's first task.
    tab = sign_in(phone, lin.openid)
    expect(tab.locator("#hello")).to_have_text("你好，林晓")
    expect(tab.locator("#task-handoffs")).to_contain_text("钱女士 · 滨江·悦府")
    expect(tab.locator('[data-figure="handoffs"]')).to_have_text("1")
    phone.snap("01-home")

    # Projects: the registration rules in plain words.
    tap_nav(tab, "楼盘")
    expect(tab.locator("#project-list")).to_contain_text("滨江·悦府")
    phone.snap("02-projects")
    tab.locator("#project-list a", has_text="滨江·悦府").tap()
    expect(tab.locator("#r-mode")).to_have_text("报备→到访→成交")
    expect(tab.locator("#r-disclosure")).to_contain_text("前三后四")
    phone.snap("03-project")

    # 报备: the phone is taken as typed and the disclosure rule shows what site staff will see.
    tab.get_by_role("link", name="报备客户").tap()
    tab.wait_for_url(re.compile(r"/m/register\?project_id=\d+"))
    expect(tab.get_by_label("楼盘")).to_have_value(str(day["project"]))
    tab.get_by_label("客户称呼").fill("周先生")
    tab.get_by_label("客户手机号").press_sequentially(buyer_phone, delay=5)
    expect(tab.get_by_label("客户手机号")).to_have_value(f"{buyer_phone[:3]} {buyer_phone[3:7]} {buyer_phone[7:]}")
    expect(tab.locator("#r-disclosure")).to_have_text(f"案场将看到：{buyer_phone[:3]}****{buyer_phone[7:]}（前三后四）")
    phone.snap("04-register-form")
    tab.get_by_role("button", name="提交报备").tap()
    expect(tab.get_by_role("heading", name="报备成功")).to_be_visible()
    expect(tab.locator("#result-extra")).to_contain_text("保护至 ")
    phone.snap("05-registered")
    [registration] = client.get("/api/mp/v1/registrations", headers=lin.auth).get_json()["items"]
    protected_until = registration["protected_until"]

    # A second consultant tries the same buyer: refused in plain Chinese, with the protection end.
    other = phones("chen")
    other_tab = sign_in(other, chen.openid)
    other_tab.goto(f"/m/register?project_id={day['project']}")
    expect(other_tab.get_by_label("楼盘")).to_have_value(str(day["project"]))
    other_tab.get_by_label("客户称呼").fill("周先生")
    other_tab.get_by_label("客户手机号").fill(buyer_phone)
    other_tab.get_by_role("button", name="提交报备").tap()
    expect(other_tab.get_by_role("heading", name="该客户已被报备")).to_be_visible()
    expect(other_tab.locator("#result-text")).to_have_text("该客户已在此楼盘被报备，保护期内不能重复报备")
    # The page shows the end in Shanghai time: after 16:00 UTC that is the next calendar day.
    ends = datetime.fromisoformat(protected_until.replace("Z", "+00:00"))
    ends = (ends if ends.tzinfo else ends.replace(tzinfo=timezone.utc)).astimezone(SHANGHAI)
    expect(other_tab.locator("#register-result")).to_contain_text(ends.strftime("%Y-%m-%d %H:%M"))
    expect(other_tab.locator("#register-result")).not_to_contain_text("林晓")
    other.snap("06-already-registered")

    # Invite link and its poster, an image to long-press and save.
    tab.goto("/m/links")
    expect(tab.get_by_label("推广楼盘")).to_contain_text("滨江·悦府")
    tab.get_by_label("推广楼盘").select_option(label="滨江·悦府（建邺区）")
    tab.get_by_label("分享渠道").select_option(label="海报")
    tab.get_by_role("button", name="生成链接").tap()
    tab.wait_for_url(re.compile(r"/m/links/\d+$"))
    expect(tab.locator("#link-url")).to_contain_text("/i/")
    poster = tab.get_by_role("img", name="邀请海报")
    expect(poster).to_be_visible()
    assert tab.evaluate("document.getElementById('poster').naturalWidth") == 750
    assert tab.evaluate("document.getElementById('poster').src").startswith("data:image/png;base64,")
    expect(tab.locator("#link-stats")).to_contain_text("打开")
    phone.snap("07-invite-poster")
    tab.goto("/m/links")
    expect(tab.locator("#link-list")).to_contain_text("滨江·悦府 · 海报")
    phone.snap("08-links")

    # Book a visit from the registration, and show the code and QR at the sales office.
    tab.goto("/m/registrations")
    tab.locator("#registration-list a", has_text="周先生").tap()
    expect(tab.locator("#reg-buyer")).to_have_text("周先生")
    expect(tab.locator("#visit-list")).to_contain_text("还没有预约带看")
    tab.get_by_label("时间").select_option("14:30")
    phone.snap("09-registration")
    tab.get_by_role("button", name="预约并生成核销码").tap()
    tab.wait_for_url(re.compile(r"/m/visits/\d+$"))
    expect(tab.locator("#visit-code")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))
    expect(tab.locator("#visit-when")).to_contain_text("14:30")
    expect(tab.get_by_role("img", name="核销码二维码")).to_be_visible()
    # The QR arrives after the page (fetched with the token); its box is sized before it decodes.
    # Awaited through the image's load event: wait_for_function would poll a string predicate,
    # which the page's CSP (no 'unsafe-eval') refuses once it has to poll.
    assert tab.locator("#visit-qr").evaluate(
        "img => img.naturalWidth > 0 || new Promise(done =>"
        " img.addEventListener('load', () => done(img.naturalWidth > 0), {once: true}))"
    )
    phone.snap("10-visit-code")
    code = tab.locator("#visit-code").inner_text()
    tab.goto("/m/")
    expect(tab.locator("#task-visits")).to_contain_text(code)

    # Accept the handoff within its SLA: the buyer is registered to him, the sender is his referrer.
    tab.goto("/m/handoffs")
    offer = tab.locator("#handoff-list li", has_text="钱女士")
    expect(offer).to_contain_text("来自 王磊")
    expect(offer).to_contain_text("前回应")
    phone.snap("11-handoff-offered")
    offer.get_by_role("button", name="接收").tap()
    expect(tab.locator("#handoff-list li", has_text="钱女士")).to_contain_text("已接收")
    phone.snap("12-handoff-accepted")
    names = [r["buyer_name"] for r in client.get("/api/mp/v1/registrations", headers=lin.auth).get_json()["items"]]
    assert sorted(names) == ["周先生", "钱女士"]

    # The developer signs: finance records the deal, it reaches 网签 and the commission is recognised.
    deal = world.deal(day["project"], buyer_phone, unit="5栋-2201", price_cents=450_000_000)
    world.stage(deal["id"], "signed")
    tab.goto("/m/deals")
    expect(tab.locator("#deal-list")).to_contain_text("滨江·悦府 · 5栋-2201")
    phone.snap("13-deals")
    tab.locator("#deal-list a", has_text="5栋-2201").tap()
    expect(tab.locator("#d-stage")).to_have_text("网签")
    line = tab.locator("#line-list li").first
    expect(line).to_contain_text("成交")
    expect(line).to_contain_text("已确认")
    commission = client.get(f"/api/mp/v1/deals/{deal['id']}/commission", headers=lin.auth).get_json()
    [own] = commission["lines"]
    expect(line).to_contain_text(own["reason"])
    expect(line).to_contain_text(yuan(own["amount_cents"]))
    phone.snap("14-deal-commission")
    tab.goto("/m/earnings")
    expect(tab.locator('#balances [data-money="pending_cents"]')).to_have_text(yuan(own["amount_cents"]))
    expect(tab.locator("#history-list")).to_contain_text(yuan(own["amount_cents"]))
    phone.snap("15-earnings")

    # The rest of his pages, each filled, photographed and checked for width.
    for path, ready, name in [
        ("/m/", "#task-visits .item", "16-home-evening"),
        ("/m/registrations", "#registration-list .item", "17-registrations"),
        ("/m/clients", "#client-list .item", "18-clients"),
        ("/m/notifications", "#notification-list .item", "19-notifications"),
        ("/m/team", "#invite-code", "20-team"),
        ("/m/me", "#me-name", "21-me"),
        ("/m/handoffs/new", "#handoff-form", "22-handoff-new"),
    ]:
        phone.open(path, ready)
        phone.snap(name)
    phone.open("/m/clients", "#client-list .item")
    tab.locator("#client-list a", has_text="周先生").tap()
    expect(tab.locator("#c-name")).to_have_text("周先生")
    tab.get_by_label("本次跟进").fill("客户周末带家人再看一次")
    tab.get_by_role("button", name="添加跟进").tap()
    expect(tab.locator("#note-list")).to_contain_text("客户周末带家人再看一次")
    phone.snap("23-client")

    assert phone.problems == [] and other.problems == []
    assert phone.refused == []
    assert other.refused == [(409, "POST", "/api/mp/v1/registrations")]
    assert len(phone.shots) == 22 and other.shots == ["06-already-registered"]


def yuan(cents: int) -> str:
    return f"¥{cents // 100:,}.{cents % 100:02d}"


def test_a_new_consultant_applies_signs_the_agreement_and_waits_for_review(phones, world, app, client):
    world.publish_agreement()
    referrer = world.operating_consultant(name="赵敏")
    phone = phones("new")
    tab = phone.tab
    tab.goto(f"/m/signin?next=/m/join%3Finvite%3D{referrer.invite_code}")
    tab.get_by_label("openid").fill("o-newcomer-1")
    tab.get_by_role("button", name="以 dev 身份登录").tap()
    tab.wait_for_url(re.compile(r"/m/join\?invite="))
    expect(tab.get_by_label("邀请码")).to_have_value(referrer.invite_code)

    # Every API refusal shows next to the field it names.
    tab.get_by_label("姓名").fill("孙俪")
    tab.get_by_label("手机号").fill("12345")
    tab.get_by_label("所在城市").fill("南京")
    tab.get_by_label("顾问类型").select_option("independent")
    tab.get_by_role("button", name="提交申请").tap()
    expect(tab.locator('[data-error-for="phone"]')).to_have_text("请输入有效的中国大陆手机号")
    expect(tab.get_by_label("手机号")).to_have_attribute("aria-invalid", "true")
    phone.snap("30-join-refused")
    number = world.next_phone()
    tab.get_by_label("手机号").fill(number)
    tab.get_by_role("button", name="获取验证码").tap()  # the phone is proved at apply (more in test_consultant_app_more_browser)
    expect(tab.locator("#join-sms-status")).to_contain_text("验证码已发送")
    tab.get_by_label("短信验证码").fill(app.extensions["adapters"].sms.last_code("+86" + number))
    tab.get_by_role("button", name="提交申请").tap()
    tab.wait_for_url(re.compile(r"/m/join/agreement$"))
    expect(tab.locator("#agreement-sha")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(tab.locator("#agreement-version")).to_have_text("第 1 版")
    tab.get_by_role("button", name="签署协议").tap()
    expect(tab.locator('[data-error-for="agree"]')).to_have_text("请先阅读并勾选同意")
    tab.get_by_label("我已阅读并同意以上协议").check()
    phone.snap("31-agreement")
    tab.get_by_role("button", name="签署协议").tap()
    tab.wait_for_url(re.compile(r"/m/join/status$"))
    expect(tab.locator("#status-label")).to_have_text("待审核")
    expect(tab.locator("#step-signed")).to_have_text("已签署")
    phone.snap("32-status")

    # Until operations approve him, the working pages send him back to his status.
    tab.goto("/m/register")
    tab.wait_for_url(re.compile(r"/m/join/status$"))
    assert phone.problems == []
    assert phone.refused == []  # the bad phone is caught on the page before any call


def test_inside_wechat_a_consultant_signs_in_by_wechat_links_his_phone_and_lands_where_he_was_going(
        phones, world, app):
    phone_number = world.next_phone()
    consultant = world.operating_consultant(name="周琳", phone=phone_number)
    phone = phones("wechat")
    tab = phone.tab

    # Not signed in: the page he opened sends him to sign in, and back afterwards.
    tab.goto("/m/deals")
    tab.wait_for_url(re.compile(r"/m/signin\?next=%2Fm%2Fdeals$"))
    phone.snap("40-signin-in-wechat")
    tab.get_by_role("link", name="微信授权登录").tap()
    # WeChat (the local stand-in) knows nobody with this Official Account openid: a stranger applies.
    tab.wait_for_url(re.compile(r"/m/join$"))
    expect(tab.locator("#link-hint")).to_be_visible()
    tab.locator("#link-hint").get_by_role("link", name="用手机验证码登录").tap()

    tab.wait_for_url(re.compile(r"/m/signin\?next="))
    tab.get_by_label("手机号").fill(phone_number)
    tab.get_by_role("button", name="获取验证码").tap()
    expect(tab.locator("#sms-status")).to_contain_text("验证码已发送")
    tab.get_by_label("验证码").fill(app.extensions["adapters"].sms.last_code("+86" + phone_number))
    tab.get_by_role("button", name="登录", exact=True).tap()
    tab.wait_for_url(re.compile(r"/m/$"))
    expect(tab.locator("#hello")).to_have_text("你好，周琳")

    # Next time WeChat alone signs him in as the consultant.
    from estate_platform.db import db
    from estate_platform.identity.models import WechatUser
    from sqlalchemy import select
    with app.app_context():
        user = db.session.scalar(select(WechatUser).where(WechatUser.openid == consultant.openid))
        assert user.oa_openid == "oa-wechat-web"
    tab.goto("/m/me")
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name="退出登录").tap()
    tab.wait_for_url(re.compile(r"/m/signin$"))
    tab.get_by_role("link", name="微信授权登录").tap()
    tab.wait_for_url(re.compile(r"/m/$"))
    expect(tab.locator("#hello")).to_have_text("你好，周琳")

    assert phone.problems == []
    assert phone.refused == [(401, "POST", "/m/session/token")]  # the first visit, before signing in


@pytest.mark.parametrize("width", [360, 414])
def test_the_pages_fit_the_narrowest_and_widest_phones(browser, live_server, day, width):
    context = browser.new_context(viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live_server.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto("/m/signin")
        tab.get_by_label("openid").fill(day["lin"].openid)
        tab.get_by_role("button", name="以 dev 身份登录").tap()
        tab.wait_for_url(re.compile(r"/m/$"))
        for path in ("/m/", "/m/projects", f"/m/projects/{day['project']}", "/m/register", "/m/handoffs", "/m/links",
                     "/m/clients", "/m/earnings", "/m/team", "/m/me", "/m/notifications", "/m/signin"):
            tab.goto(path)
            tab.wait_for_load_state("networkidle")
            assert tab.evaluate("document.documentElement.scrollWidth") <= width, path
            assert tab.evaluate(SMALL_TAP_TARGETS) == [], path
    finally:
        context.close()
    assert errors == []
