/* Counts one open of the invite link when a person's browser really shows the page.
   Link previews (WeChat, WhatsApp, Slack …) and crawlers fetch the page but never run
   this script, so fetching the page counts nothing; only this beacon does. It carries
   the page token; the visitor cookie (HttpOnly) goes with it. Served by the app (no CDN);
   without it the page works and the open is simply not counted. */
(function () {
  "use strict";
  var beacon = document.getElementById("open-beacon");
  if (!beacon) { return; }
  var url = beacon.getAttribute("data-open-url");
  var body = "page_token=" + encodeURIComponent(beacon.getAttribute("data-page-token") || "") +
    "&referrer=" + encodeURIComponent(document.referrer || "");
  var sent = false;

  function send() {
    if (sent) { return; }
    sent = true;
    var form = "application/x-www-form-urlencoded";
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], {type: form}))) { return; }
    } catch (ignored) { /* fall back to a plain request */ }
    var request = new XMLHttpRequest();
    request.open("POST", url, true);
    request.setRequestHeader("Content-Type", form);
    request.send(body);
  }

  // A page loaded in the background (prerendered, or a tab not yet looked at) counts
  // only once it becomes visible.
  function whenVisible() {
    if (document.prerendering) {
      document.addEventListener("prerenderingchange", whenVisible, {once: true});
    } else if (document.visibilityState === "hidden") {
      document.addEventListener("visibilitychange", function onChange() {
        if (document.visibilityState !== "hidden") {
          document.removeEventListener("visibilitychange", onChange);
          send();
        }
      });
    } else {
      send();
    }
  }

  if (document.readyState === "complete") { whenVisible(); } else { window.addEventListener("load", whenVisible); }
}());
