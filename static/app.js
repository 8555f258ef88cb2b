/* Scriptorium: show what went wrong when an htmx request fails (the page itself stays as it was). */
(function () {
  "use strict";
  var timer;
  // The page's words for what this file says (base.html's #js-strings, in the interface's language).
  function say(key, fallback, vars) {
    var box = document.getElementById("js-strings"), text = (box && box.dataset[key]) || fallback;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(vars[k]); });
    return text;
  }
  function toast(message) {
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr, text = (xhr.responseText || "").trim();
    toast(text && text.length < 300 && text.charAt(0) !== "<" ? text : say("failed", "That did not work ({status}). Reload the page and try again.", { status: xhr.status }));
  });
  document.addEventListener("htmx:sendError", function () { toast(say("offline", "The server could not be reached. Check the connection and try again.")); });
  window.scriptoriumToast = toast;
  window.scriptoriumSay = say;
})();

/* Job status, read out once per change: the status fragments are swapped every 2 s while a job runs, so they are
   not live regions themselves; after each swap, a fragment whose status differs from the one seen before is
   announced in the page's one polite region (#announcer). Progress ticks change nothing here. */
(function () {
  "use strict";
  var seen = {};
  function statusOf(el) {
    var badge = el.querySelector(".badge");
    return badge ? badge.textContent.trim() : "";
  }
  function scan(announce) {
    var box = document.getElementById("announcer"), lines = [];
    document.querySelectorAll(".status[id]").forEach(function (el) {
      var now = statusOf(el), before = seen[el.id];
      seen[el.id] = now;
      if (announce && before !== undefined && now && now !== before) {
        var err = el.querySelector(".error");
        lines.push((el.dataset.title || (window.scriptoriumSay ? window.scriptoriumSay("transcript", "Transcript") : "Transcript")) + ": " + now + (err ? " (" + err.textContent.trim() + ")" : ""));
      }
    });
    if (box && lines.length) box.textContent = lines.join(". ");
  }
  document.addEventListener("DOMContentLoaded", function () { scan(false); });
  document.addEventListener("htmx:afterSettle", function () { scan(true); });
})();
