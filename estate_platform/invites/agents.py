"""Who is asking: a person's browser, or a machine fetching the invite page.

Opens are counted only from the landing page's own script (a beacon after the page
is shown), which link-preview fetchers (WeChat, WhatsApp, Slack, Facebook) and
plain HTTP clients never run. Some crawlers do run scripts (Googlebot and
Bytespider render pages), so the beacon also refuses every user agent below.

A person's browser always sends a user agent starting with ``Mozilla/`` (Chrome,
Safari, Firefox, WeChat's and QQ's in-app browsers, UC) or, on old Opera,
``Opera/``; anything else (empty, ``curl/8.0``, ``python-requests/2.31``,
``facebookexternalhit/1.1``, ``WhatsApp/2.23``) is a program.
"""
from __future__ import annotations

import re

BROWSER_PREFIXES = ("mozilla/", "opera/")

# Markers of crawlers, link expanders and automation inside browser-like user agents.
# "bot" must not match phone brands such as CUBOT ("Android 9; CUBOT P30").
AUTOMATED = re.compile(
    r"(?<!cu)bot|crawl|spider|slurp|archiver|scrapy|fetch|facebookexternalhit|facebookcatalog|meta-externalagent"
    r"|google-|googleother|mediapartners|preview|embedly|iframely|vkshare"
    r"|qq-url-manager|headlesschrome|phantomjs|lighthouse|pagespeed|prerender|puppeteer|playwright|selenium"
    r"|webdriver|curl|wget|python|java/|okhttp|go-http-client|libwww|httpclient|http_request|axios|postman",
    re.IGNORECASE)


def is_automated(user_agent: str | None) -> bool:
    """True unless the user agent looks like a person's browser (never counted as an open)."""
    agent = (user_agent or "").strip()
    if not agent.lower().startswith(BROWSER_PREFIXES):
        return True
    return AUTOMATED.search(agent) is not None
