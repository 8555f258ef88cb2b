/* The reader: play from a clicked word or timestamp, highlight the word being spoken and keep it in view,
   Space / arrow keys for the player, and ?t= to start at a search hit.
   Keyboard: the words are one tab stop (a roving tabindex: the spoken or last focused word); inside them the
   arrow keys move word to word (up/down: segment to segment), Home/End to the ends, Enter or Space plays.
   After an inline edit is saved, focus goes back to the segment's own button instead of being lost. */
(function () {
  "use strict";
  var player = document.getElementById("player");
  var root = document.getElementById("segments");
  if (!player || !root) return;
  var follow = document.getElementById("follow");
  var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");
  var words = [], starts = [], current = null, dirty = true, rover = null;

  function index() {
    words = Array.prototype.slice.call(root.querySelectorAll(".w[data-start]"));
    starts = words.map(function (w) { return parseFloat(w.dataset.start); });
    words.forEach(function (w) {
      if (!w.hasAttribute("tabindex")) w.setAttribute("tabindex", "-1");
      w.setAttribute("aria-describedby", "words-help");
    });
    dirty = false;
    if (!rover || !root.contains(rover)) setRover(words[0] || null);
  }

  function setRover(w) {  // the one word reached with Tab
    if (rover && rover !== w) rover.setAttribute("tabindex", "-1");
    rover = w;
    if (w) w.setAttribute("tabindex", "0");
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
    if (!(document.activeElement && document.activeElement.classList.contains("w"))) setRover(w);
    var editing = document.activeElement && document.activeElement.tagName === "TEXTAREA";
    if ((scroll || !player.paused) && (!follow || follow.checked) && !editing && !inView(w)) {
      w.scrollIntoView({ block: "center", behavior: scroll || (calm && calm.matches) ? "auto" : "smooth" });
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
    if (target.classList.contains("w")) setRover(target);
    seek(parseFloat(target.dataset.start), true);
  });

  function moveTo(w) {
    if (!w) return;
    setRover(w);
    w.focus();
  }

  root.addEventListener("keydown", function (e) {
    var w = e.target;
    if (!w.classList || !w.classList.contains("w") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (dirty) index();
    var i = words.indexOf(w), seg = w.closest(".segment"), segs, k;
    if (e.key === "Enter" || e.key === " ") {
      seek(parseFloat(w.dataset.start), true);
    } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      moveTo(words[i + (e.key === "ArrowRight" ? 1 : -1)]);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      segs = Array.prototype.slice.call(root.querySelectorAll(".segment"));
      for (k = segs.indexOf(seg) + (e.key === "ArrowDown" ? 1 : -1); k >= 0 && k < segs.length; k += (e.key === "ArrowDown" ? 1 : -1)) {
        if (segs[k].querySelector(".w[data-start]")) { moveTo(segs[k].querySelector(".w[data-start]")); break; }
      }
    } else if (e.key === "Home" || e.key === "End") {
      moveTo(words[e.key === "Home" ? 0 : words.length - 1]);
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();  // not also the page's Space / arrow keys
  });

  // In the correction box, Ctrl+Enter or Escape saves (as leaving the box does) without leaving it by hand.
  root.addEventListener("keydown", function (e) {
    var box = e.target;
    if (!box.classList || !box.classList.contains("seg-edit") || !window.htmx) return;
    if (e.key === "Escape" || (e.key === "Enter" && (e.ctrlKey || e.metaKey))) {
      e.preventDefault();
      htmx.trigger(box, "blur");
    }
  });

  // A saved edit replaces its segment: if focus was inside it, it would fall back to the page. Put it on the
  // control that opens the same editor again (the Edit button after a text edit, the speaker's name after a move).
  var restore = null;
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target, active = document.activeElement;
    restore = null;
    if (target && target.classList && target.classList.contains("segment") && active && active !== document.body
        && target.contains(active)) {
      restore = { id: target.id, text: !!active.closest(".seg-form, .edit-btn") };
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    var r = restore, seg;
    restore = null;
    if (!r || !(seg = document.getElementById(r.id))) return;
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;  // htmx's autofocus took it
    var to = seg.querySelector(r.text ? ".edit-btn" : ".speaker-name") || seg.querySelector(".edit-btn, .speaker-name, .when");
    if (to) to.focus();
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
  index();
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
