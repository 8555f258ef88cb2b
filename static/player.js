/* The reader: play from a clicked word or timestamp, highlight the word being spoken and keep it in view,
   Space / arrow keys for the player, and ?t= to start at a search hit. */
(function () {
  "use strict";
  var player = document.getElementById("player");
  var root = document.getElementById("segments");
  if (!player || !root) return;
  var follow = document.getElementById("follow");
  var words = [], starts = [], current = null, dirty = true;

  function index() {
    words = Array.prototype.slice.call(root.querySelectorAll(".w[data-start]"));
    starts = words.map(function (w) { return parseFloat(w.dataset.start); });
    dirty = false;
  }

  function wordAt(t) {  // the last word that started at or before t (binary search), if still being spoken
    if (dirty) index();
    var lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (starts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found < 0) return null;
    var w = words[found], end = parseFloat(w.dataset.end);
    var next = found + 1 < starts.length ? starts[found + 1] : Infinity;
    return t <= Math.max(end, Math.min(next, end + 0.6)) ? w : null;
  }

  function inView(el) {
    var r = el.getBoundingClientRect();
    return r.top >= 60 && r.bottom <= (window.innerHeight || document.documentElement.clientHeight) - 40;
  }

  function highlight(scroll) {
    var w = wordAt(player.currentTime);
    if (w === current && !scroll) return;
    if (current) current.classList.remove("now");
    current = w;
    if (!w) return;
    w.classList.add("now");
    var editing = document.activeElement && document.activeElement.tagName === "TEXTAREA";
    if ((scroll || !player.paused) && (!follow || follow.checked) && !editing && !inView(w)) {
      w.scrollIntoView({ block: "center", behavior: scroll ? "auto" : "smooth" });
    }
  }

  function seek(t, play) {
    player.currentTime = Math.max(0, t);
    highlight(false);
    if (play) {
      var p = player.play();
      if (p && p.catch) p.catch(function () { /* autoplay refused: the player shows its play button */ });
    }
  }

  root.addEventListener("click", function (e) {
    var target = e.target.closest(".w[data-start], .when[data-start]");
    if (!target || (window.getSelection && String(window.getSelection()).length)) return;
    seek(parseFloat(target.dataset.start), true);
  });

  var frame = null;
  function tick() { highlight(false); frame = player.paused ? null : requestAnimationFrame(tick); }
  player.addEventListener("play", function () { if (!frame) frame = requestAnimationFrame(tick); });
  player.addEventListener("seeked", function () { highlight(false); });
  player.addEventListener("timeupdate", function () { if (!frame) highlight(false); });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var el = e.target;
    if (el.closest && el.closest("input, textarea, select, button, a, [contenteditable], audio, video, summary")) return;
    if (e.key === " " || e.code === "Space") {
      e.preventDefault();
      if (player.paused) seek(player.currentTime, true); else player.pause();
    } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      seek(player.currentTime + (e.key === "ArrowRight" ? 5 : -5), !player.paused);
    }
  });

  // Fragments swapped in by htmx (an edited segment) bring new word spans.
  document.body.addEventListener("htmx:afterSwap", function () { dirty = true; current = null; highlight(false); });
  document.body.addEventListener("speakerRenamed", function (e) {
    var d = e.detail || {};
    root.querySelectorAll(".speaker-name").forEach(function (b) {
      if (b.dataset.speaker === d.label) b.textContent = d.name;
    });
  });

  var startAt = parseFloat(player.dataset.startAt);
  if (!isNaN(startAt)) {
    var go = function () { seek(startAt, true); highlight(true); };
    if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
    var first = wordAt(startAt) || root.querySelector(".segment");
    if (first) first.scrollIntoView({ block: "center" });
  }
  window.scriptoriumPlayer = { seek: seek, wordAt: wordAt };
})();
