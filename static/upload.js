/* Upload each chosen or dropped file in its own request, with its own progress bar and its own answer. */
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var input = form.querySelector("input[type=file]");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("uploads");
  var csrf = form.querySelector("[name=csrf_token]").value;
  var chain = Promise.resolve();
  // The page's words (base.html's #js-strings, in the interface's language), English if they are missing.
  function say(key, fallback, vars) {
    var box = document.getElementById("js-strings"), text = (box && box.dataset[key]) || fallback;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(vars[k]); });
    return text;
  }
  form.classList.add("js");
  input.removeAttribute("required");

  function sizeText(n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1024)) + " KB";
  }

  function item(file) {
    var li = document.createElement("li");
    li.className = "upload-item";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name + " (" + sizeText(file.size) + ")";
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", say("uploadOf", "Upload of {name}", { name: file.name }));
    var note = document.createElement("span");
    note.className = "upload-note muted";
    // The list is a polite live region: the percentage is for the eye only (the bar carries the value), so a
    // screen reader hears "uploading" and then the outcome, not every progress event.
    var msg = document.createElement("span");
    msg.textContent = say("waiting", "waiting");
    var pct = document.createElement("span");
    pct.setAttribute("aria-hidden", "true");
    note.append(msg, pct);
    li.append(name, bar, note);
    list.prepend(li);
    return { li: li, bar: bar, note: note, msg: msg, pct: pct };
  }

  function finish(ui, ok, text, href) {
    ui.li.classList.add(ok ? "ok" : "bad");
    ui.bar.value = ok ? 100 : ui.bar.value;
    ui.note.textContent = "";
    ui.note.className = "upload-note " + (ok ? "muted" : "error");
    if (!ok) ui.note.setAttribute("role", "alert");
    if (href) {
      var a = document.createElement("a");
      a.href = href; a.textContent = text;
      ui.note.append(a);
    } else {
      ui.note.textContent = text;
    }
  }

  function send(file, ui) {
    return new Promise(function (resolve) {
      if (file.type && /^(text|image|font)\//.test(file.type)) {
        finish(ui, false, say("notMedia", "not an audio or video file ({type})", { type: file.type }));
        return resolve(false);
      }
      var data = new FormData(form);
      data.delete("file");
      data.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      ui.msg.textContent = say("uploading", "uploading");
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          ui.bar.value = Math.round(100 * e.loaded / e.total);
          ui.pct.textContent = " " + ui.bar.value + "%";
        }
      };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { /* not JSON: say so below */ }
        var r = (body.files || [])[0];
        var ok = xhr.status < 300 && r && r.ok;
        if (ok) finish(ui, true, r.message, r.url);
        else finish(ui, false, (r && r.error) || body.error || say("refused", "the server refused the file ({status})", { status: xhr.status }));
        resolve(!!ok);
      };
      xhr.onerror = function () { finish(ui, false, say("interrupted", "the upload was interrupted; try again")); resolve(false); };
      xhr.send(data);
    });
  }

  function refreshList() {
    if (window.htmx && document.getElementById("transcripts")) {
      htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#transcripts", swap: "outerHTML" });
    }
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      var ui = item(file);
      chain = chain.then(function () { return send(file, ui); });
    });
    chain = chain.then(refreshList);
  }

  // record.js hands its recordings to the same path, one request each; the promise says whether it was taken.
  window.scriptoriumUpload = function (file) {
    var ui = item(file);
    var sent = chain.then(function () { return send(file, ui); });
    chain = sent.then(refreshList);
    return sent;
  };

  input.addEventListener("change", function () { add(input.files); input.value = ""; });
  form.addEventListener("submit", function (e) { e.preventDefault(); add(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files);
  });
})();
