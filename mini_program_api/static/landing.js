/* The landing page's SMS button: sends the code through the API, then counts down.
   Served by the app (no CDN); the form itself works as a plain HTML form. */
(function () {
  "use strict";
  var form = document.getElementById("signup-form");
  if (!form) { return; }
  var button = document.getElementById("send-code");
  var status = document.getElementById("sms-status");
  var interval = parseInt(form.getAttribute("data-sms-interval"), 10) || 60;
  var timer = null;

  function show(text, isError) {
    status.textContent = text;
    status.className = isError ? "sms-status error" : "sms-status";
  }

  function countdown(seconds) {
    var left = seconds;
    button.disabled = true;
    button.textContent = left + " 秒后重发";
    clearInterval(timer);
    timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        button.disabled = false;
        button.textContent = "重新获取";
      } else {
        button.textContent = left + " 秒后重发";
      }
    }, 1000);
  }

  button.addEventListener("click", function () {
    var phone = form.elements.phone.value.replace(/[\s-]/g, "");
    if (!/^1[3-9]\d{9}$/.test(phone)) {
      show("请输入有效的中国大陆手机号", true);
      form.elements.phone.focus();
      return;
    }
    button.disabled = true;
    fetch(form.getAttribute("data-sms-url"), {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      credentials: "same-origin",
      body: JSON.stringify({phone: phone})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    }).then(function (result) {
      if (result.ok) {
        var minutes = Math.max(1, Math.round(result.body.expires_in_seconds / 60));
        show("验证码已发送，" + minutes + " 分钟内有效", false);
        countdown(interval);
        form.elements.sms_code.focus();
        return;
      }
      var error = result.body && result.body.error;
      var wait = error && error.details && error.details.retry_after_seconds;
      show((error && error.message) || "发送失败，请稍后重试", true);
      if (wait) { countdown(wait); } else { button.disabled = false; }
    }).catch(function () {
      show("网络异常，请稍后重试", true);
      button.disabled = false;
    });
  });

  form.addEventListener("submit", function () {
    var submit = form.querySelector("button[type=submit]");
    setTimeout(function () { submit.disabled = true; submit.textContent = "提交中…"; }, 0);
  });
}());
