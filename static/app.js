/* Scriptorium: show what went wrong when an htmx request fails (the page itself stays as it was). */
(function () {
  "use strict";
  var timer;
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
    toast(text && text.length < 300 && text.charAt(0) !== "<" ? text : "That did not work (" + xhr.status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () { toast("The server could not be reached. Check the connection and try again."); });
  window.scriptoriumToast = toast;
})();
