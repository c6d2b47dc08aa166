"""Invite opens are counted only when a person's browser shows the page (issue 14).

Crawlers, link previews (WeChat's, WhatsApp's, Slack's, Facebook's), HTTP clients
and HEAD requests still get the landing page and its share tags, but fetching the
page records nothing. An open is counted by the beacon the page's own script sends
once the page is shown, carrying the page token; the visitor cookie makes the unique
visitor and the first touch. Per-link stats carry the funnel through to deals and GMV.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event

from estate_platform.invites import agents
from estate_platform.invites import services as invites
from estate_platform.invites.models import Attribution, LinkOpen

from .test_invite_links import FORM_TOKEN, PAGE_TOKEN, Browser, make_link, registrations_of, rows, stats

IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.0 Mobile/15E148 Safari/604.1")
WECHAT_ANDROID = ("Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1110005 MMWEBSDK/20230805 "
                  "MMWEBID/2576 MicroMessenger/8.0.42.2460(0x28002A35) WeChat/arm64 Weixin NetType/WIFI "
                  "Language/zh_CN ABI/arm64")
PEOPLE = {"iPhone Safari": IPHONE_SAFARI, "WeChat on Android": WECHAT_ANDROID}

# Programs that fetch links people share; each one used to count as an open and a visitor.
BOTS = {
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "bytespider": ("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
                   "(compatible; Bytespider; spider-feedback@bytedance.com)"),
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "curl": "curl/8.0.1",
    "python-requests": "python-requests/2.31.0",
    "empty": "",
}
# WeChat fetches a shared link's page for its preview card with an ordinary WeChat user
# agent, which no rule can tell from a person; it never runs the page's script, so it
# is one more fetch that counts nothing.
WECHAT_PREVIEW = ("Mozilla/5.0 (Linux; Android 10; Mi 10 Build/QKQ1.191117.002; wv) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Version/4.0 Chrome/86.0.4240.99 Mobile Safari/537.36 MicroMessenger/8.0.1.1841(0x2800015D) "
                  "NetType/WIFI Language/zh_CN")
FETCHERS = {**BOTS, "wechat preview": WECHAT_PREVIEW}


def page_of(client, link: dict, user_agent: str):
    return client.get(f"/i/{link['token']}", headers={"User-Agent": user_agent})


@pytest.fixture
def link(client, world):
    consultant = world.operating_consultant(name="林顾问")
    made = make_link(client, consultant, project_id=world.project(name="滨江·悦府", city="南京", district="建邺区",
                                                                   description="地铁 2 号线旁，三至四居。"))
    return {**made, "consultant": consultant}


def funnel(client, link: dict) -> tuple[int, int]:
    found = stats(client, link["consultant"], link)
    return found["opens"], found["unique_visitors"]


# --- fetching the page counts nothing ----------------------------------------------------------

@pytest.mark.parametrize("user_agent", FETCHERS.values(), ids=FETCHERS.keys())
def test_a_crawler_or_link_preview_gets_the_page_with_its_share_tags_and_nothing_is_recorded(
        client, link, counts, user_agent):
    before = counts()

    response = page_of(client, link, user_agent)

    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<meta property="og:title" content="滨江·悦府 · 南京 · 建邺区">' in html
    assert '<meta property="og:description" content="地铁 2 号线旁，三至四居。">' in html
    assert f'<meta property="og:url" content="http://localhost/i/{link["token"]}">' in html
    assert "林顾问" in html and "获取验证码" in html  # the same page a person sees
    assert counts() == before
    assert funnel(client, link) == (0, 0)


@pytest.mark.parametrize("user_agent", [*FETCHERS.values(), IPHONE_SAFARI], ids=[*FETCHERS.keys(), "browser"])
def test_a_head_request_gets_the_headers_and_counts_nothing(client, link, counts, user_agent):
    before = counts()

    response = client.head(f"/i/{link['token']}", headers={"User-Agent": user_agent})

    assert response.status_code == 200 and response.mimetype == "text/html" and response.data == b""
    assert counts() == before


def test_a_share_card_for_a_consultants_own_link_names_him(client, world):
    consultant = world.operating_consultant(name="周顾问", kind="company", company_name="安家置业")
    card = make_link(client, consultant, channel="chat")

    html = page_of(client, card, BOTS["facebook"]).get_data(as_text=True)

    assert '<meta property="og:title" content="周顾问的名片 · 置业顾问">' in html
    assert "安家置业" in html.split('property="og:description"')[1].split(">")[0]


# --- a person's browser counts, once per page shown ----------------------------------------------

@pytest.mark.parametrize("user_agent", PEOPLE.values(), ids=PEOPLE.keys())
def test_a_browser_showing_the_page_counts_an_open_and_its_cookie_one_visitor(app, client, link, user_agent):
    phone = Browser(app, user_agent)
    phone.open(link)
    assert funnel(client, link) == (1, 1)

    assert phone.report_open(link).status_code == 204  # shown again: the same cookie
    assert funnel(client, link) == (2, 1)

    Browser(app, user_agent).open(link)  # another phone: another cookie
    assert funnel(client, link) == (3, 2)
    [first, second, third] = rows(app, LinkOpen)
    assert first.visitor_id == second.visitor_id != third.visitor_id
    assert first.user_agent == user_agent


def test_the_page_asks_its_script_to_count_only_when_the_links_url_shows_it(app, link, world):
    """The form shown again after a refused sign-up is the same visit, not another open."""
    phone = Browser(app)
    phone.open(link)
    assert 'id="open-beacon"' in phone.pages[link["token"]]

    refused = phone.submit(link, world.next_buyer_phone(), name="")

    assert refused.status_code == 422 and 'id="open-beacon"' not in refused.get_data(as_text=True)


@pytest.mark.parametrize("user_agent", BOTS.values(), ids=BOTS.keys())
def test_a_crawler_that_runs_the_pages_script_is_ignored(app, client, link, counts, user_agent):
    """Googlebot and Bytespider render pages; their beacon is answered and ignored."""
    crawler = Browser(app, user_agent)
    crawler.pages[link["token"]] = page_of(crawler.client, link, user_agent).get_data(as_text=True)
    before = counts()

    response = crawler.report_open(link, **{"User-Agent": user_agent})

    assert response.status_code == 204
    assert counts() == before


# --- a beacon must come from this visitor's own page ---------------------------------------------

BAD_BEACONS = {
    "no page token": ({"page_token": None}, {}),
    "forged page token": ({"page_token": "0" * 64}, {}),
    "a page token with non-ASCII characters": ({"page_token": "页" * 64}, {}),
    "another visitor's token": ({"page_token": "other"}, {}),
    "the form token instead": ({"page_token": "form"}, {}),
    "no cookie": ({"cookie": None}, {}),
    "another site's page": ({}, {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}),
    "another site, origin only": ({}, {"Origin": "https://evil.example", "Sec-Fetch-Site": None}),
    "a sandboxed page": ({}, {"Origin": "null", "Sec-Fetch-Site": None}),
    "a sibling subdomain": ({}, {"Origin": "https://m.example.com", "Sec-Fetch-Site": "same-site"}),
}


@pytest.mark.parametrize("change, headers", BAD_BEACONS.values(), ids=BAD_BEACONS.keys())
def test_a_beacon_without_this_visitors_cookie_and_page_token_or_from_another_site_counts_nothing(
        app, link, counts, change, headers):
    phone, other = Browser(app), Browser(app)
    for browser in (phone, other):
        browser.pages[link["token"]] = browser.client.get(f"/i/{link['token']}").get_data(as_text=True)
    data = {"page_token": PAGE_TOKEN.search(phone.pages[link["token"]]).group(1)}
    if "page_token" in change:
        value = change["page_token"]
        if value == "other":
            value = PAGE_TOKEN.search(other.pages[link["token"]]).group(1)
        elif value == "form":
            value = FORM_TOKEN.search(phone.pages[link["token"]]).group(1)
        data = {} if value is None else {"page_token": value}
    if "cookie" in change:
        phone.client.delete_cookie("ep_visitor", path="/i")
    sent = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin", **headers}
    before = counts()

    response = phone.client.post(f"/i/{link['token']}/open", data=data,
                                 headers={k: v for k, v in sent.items() if v is not None})

    assert response.status_code == 403
    assert counts() == before


def test_a_beacon_from_an_older_browser_without_origin_headers_counts_on_its_page_token(app, client, link):
    phone = Browser(app)
    phone.pages[link["token"]] = phone.client.get(f"/i/{link['token']}").get_data(as_text=True)

    response = phone.report_open(link, Origin=None, **{"Sec-Fetch-Site": None})

    assert response.status_code == 204 and funnel(client, link) == (1, 1)


def test_a_page_token_counts_only_for_its_own_link(app, client, world, link, counts):
    other_link = make_link(client, link["consultant"], channel="chat")
    phone = Browser(app)
    phone.pages[link["token"]] = phone.client.get(f"/i/{link['token']}").get_data(as_text=True)
    page_token = PAGE_TOKEN.search(phone.pages[link["token"]]).group(1)
    before = counts()

    response = phone.client.post(f"/i/{other_link['token']}/open", data={"page_token": page_token},
                                 headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})

    assert response.status_code == 403 and counts() == before


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
def test_only_a_post_to_the_beacon_counts(app, link, counts, method):
    phone = Browser(app)
    phone.open(link)
    before = counts()

    response = phone.client.open(f"/i/{link['token']}/open", method=method)

    assert response.status_code in (404, 405)
    assert counts() == before


def test_a_beacon_for_a_link_disabled_since_the_page_was_shown_counts_nothing(app, client, link, counts):
    phone = Browser(app)
    phone.pages[link["token"]] = phone.client.get(f"/i/{link['token']}").get_data(as_text=True)
    assert client.delete(f"/api/mp/v1/invite-links/{link['id']}", headers=link["consultant"].auth).status_code == 200
    before = counts()

    response = phone.report_open(link)

    assert response.status_code == 404 and counts() == before


# --- first touch goes through the beacon's cookie ---------------------------------------------

def test_the_first_link_a_browser_showed_wins_and_a_fetch_without_the_script_is_no_touch(app, client, world):
    project_id = world.project()
    first, second, fetched = (world.operating_consultant(name=name) for name in ("甲顾问", "乙顾问", "丙顾问"))
    first_link, second_link, fetched_link = (make_link(client, c, project_id=project_id)
                                              for c in (first, second, fetched))
    phone = Browser(app)
    phone.client.get(f"/i/{fetched_link['token']}")  # fetched (a preview in the chat), never shown
    phone.open(first_link)
    phone.open(second_link)

    response = phone.submit(second_link, world.next_buyer_phone())

    assert response.status_code == 200
    [attribution] = rows(app, Attribution)
    assert attribution.link_id == first_link["id"]
    [registration] = registrations_of(client, first)
    assert registration["source_link_id"] == first_link["id"]
    assert registrations_of(client, second) == registrations_of(client, fetched) == []


def test_a_browser_that_never_ran_the_script_is_credited_to_the_link_it_signed_up_on(app, client, world):
    consultant = world.operating_consultant()
    link = make_link(client, consultant, project_id=world.project())
    phone = Browser(app)
    phone.pages[link["token"]] = phone.client.get(f"/i/{link['token']}").get_data(as_text=True)  # scripts off

    assert phone.submit(link, world.next_buyer_phone()).status_code == 200

    [attribution] = rows(app, Attribution)
    assert attribution.link_id == link["id"]
    assert stats(client, consultant, link) | {"link_id": 0} == {
        "link_id": 0, "opens": 0, "unique_visitors": 0, "signups": 1, "registrations": 1, "visits": 0, "deals": 0,
        "gmv_cents": 0}


# --- the funnel through to deals and GMV ----------------------------------------------------------

def test_stats_count_the_links_live_deals_and_their_gmv(app, client, world):
    consultant = world.operating_consultant()
    project_id = world.project()
    world.commission_rule(project_id)
    world.split_policy()
    link = make_link(client, consultant, project_id=project_id)
    phones = [world.next_buyer_phone() for _ in range(2)]
    for phone in phones:
        buyer = Browser(app)
        buyer.open(link)
        assert buyer.submit(link, phone).status_code == 200
    direct_phone = world.next_buyer_phone()
    world.register(consultant, project_id, phone=direct_phone)  # registered by hand: not the link's

    world.deal(project_id, phones[0], price_cents=325_000_000, unit="1-1201室")
    assert stats(client, consultant, link) == {
        "link_id": link["id"], "opens": 2, "unique_visitors": 2, "signups": 2, "registrations": 2, "visits": 0,
        "deals": 1, "gmv_cents": 325_000_000}

    cancelled = world.deal(project_id, phones[1], price_cents=280_000_000, unit="2-801室")
    response = client.post(f"/admin/api/v1/deals/{cancelled['id']}/cancel", json={"reason": "客户退房"},
                           headers=world.staff_auth("finance"))
    assert response.status_code == 200, response.get_json()
    world.deal(project_id, direct_phone, price_cents=410_000_000, unit="3-301室")
    world.deal(project_id, phones[0], price_cents=99_000_000, unit="B1-车位12")  # the same buyer buys again

    found = stats(client, consultant, link)
    assert (found["registrations"], found["deals"], found["gmv_cents"]) == (2, 2, 325_000_000 + 99_000_000)
    listed = client.get("/api/mp/v1/invite-links", headers=consultant.auth).get_json()["items"]
    assert listed[0]["stats"] == found


def test_stats_for_a_page_of_links_take_the_same_few_statements_however_many_links(app, client, world):
    from estate_platform.db import db

    consultant = world.operating_consultant()
    project_id = world.project()
    links = [make_link(client, consultant, project_id=project_id) for _ in range(5)]
    for made in links:
        Browser(app).open(made)

    def statements(link_ids: list[int]) -> tuple[int, dict]:
        seen: list[str] = []
        with app.app_context():
            listener = lambda *args: seen.append(args[2])  # noqa: E731 (conn, cursor, statement, …)
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                found = invites.stats_for(db.session, link_ids)
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
        return len([s for s in seen if s.lstrip().upper().startswith("SELECT")]), found

    one, _ = statements([links[0]["id"]])
    five, found = statements([made["id"] for made in links])

    assert one == five == 4
    assert {link_id: (s.opens, s.unique_visitors) for link_id, s in found.items()} == {
        made["id"]: (1, 1) for made in links}


# --- the rule itself ---------------------------------------------------------------------------

@pytest.mark.parametrize("user_agent", [*BOTS.values(), None, "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0",
                                        "Mozilla/5.0 (compatible; bingbot/2.0)", "Sogou web spider/4.0",
                                        "Mozilla/5.0 (compatible; Baiduspider/2.0)", "Wget/1.21", "okhttp/4.9.0",
                                        "Mozilla/5.0 (compatible; YandexBot/3.0)", "TelegramBot (like TwitterBot)"])
def test_programs_are_told_from_people(user_agent):
    assert agents.is_automated(user_agent)


@pytest.mark.parametrize("user_agent", [
    *PEOPLE.values(), WECHAT_PREVIEW,
    "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
    "QQ/8.9.80.616 V1_IPH_SQ_8.9.80_1_APP_A Pixel/1170 Core/WKWebView Device/Apple(iPhone 14) NetType/WIFI",
    "Mozilla/5.0 (Linux; U; Android 12; zh-CN; V2134A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
    "Chrome/100.0 UCBrowser/15.5.6.1236 Mobile Safari/537.36",
])
def test_people_browsers_are_not_taken_for_programs(user_agent):
    assert not agents.is_automated(user_agent)
