/* Record in the browser: the microphone through MediaRecorder, a level meter (AnalyserNode) and the elapsed time;
   when stopped, the recording goes up through upload.js like a chosen file. Until the server has taken it, the
   recording is kept in this browser (IndexedDB, and in memory if that is unavailable) and offered as a download,
   so a lost connection or a closed tab does not lose it. */
(function () {
  "use strict";
  var button = document.getElementById("record-button");
  var panel = document.getElementById("recorder");
  if (!button || !panel) return;
  // The page's words (base.html's #js-strings, in the interface's language), English if they are missing.
  function say(key, fallback, vars) {
    var box = document.getElementById("js-strings"), text = (box && box.dataset[key]) || fallback;
    Object.keys(vars || {}).forEach(function (k) { text = text.split("{" + k + "}").join(vars[k]); });
    return text;
  }
  if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    button.disabled = true;
    button.title = say("cannotRecord", "This browser cannot record audio");
    return;
  }
  var stopButton = document.getElementById("record-stop");
  var meter = document.getElementById("record-level");
  var timeOut = document.getElementById("record-time");
  var status = document.getElementById("record-status");
  var kept = document.getElementById("recordings");
  var DB = "scriptorium-recordings", STORE = "recordings";
  var memory = {};  // name -> File, when IndexedDB cannot be used
  var session = null;

  button.hidden = false;

  function openDb() {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) return reject(new Error("no IndexedDB"));
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function withStore(mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = fn(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function keep(file) {
    memory[file.name] = file;
    return withStore("readwrite", function (s) {
      return s.put({ blob: file, type: file.type, saved: Date.now() }, file.name);
    }).catch(function () { /* memory only */ });
  }

  function forget(name) {
    delete memory[name];
    return withStore("readwrite", function (s) { return s.delete(name); }).catch(function () {});
  }

  function keptFiles() {
    return openDb().then(function (db) {
      return new Promise(function (resolve) {
        var out = [], req = db.transaction(STORE).objectStore(STORE).openCursor();
        req.onsuccess = function () {
          var c = req.result;
          if (!c) { db.close(); return resolve(out); }
          out.push(new File([c.value.blob], c.key, { type: c.value.type }));
          c.continue();
        };
        req.onerror = function () { db.close(); resolve(out); };
      });
    }).catch(function () { return Object.keys(memory).map(function (k) { return memory[k]; }); });
  }

  function clock(s) {
    var m = Math.floor(s / 60), r = Math.floor(s % 60);
    return (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }

  /* One row per recording not yet taken by the server: download it, or send it again. */
  function offer(file) {
    var id = "kept-" + file.name.replace(/[^A-Za-z0-9]/g, "-");
    var old = document.getElementById(id);
    if (old) old.remove();
    var li = document.createElement("li");
    li.id = id;
    li.className = "kept-recording";
    var name = document.createElement("span");
    name.textContent = say("notUploadedYet", "{name} (not uploaded yet)", { name: file.name });
    var save = document.createElement("a");
    save.href = URL.createObjectURL(file);
    save.download = file.name;
    save.textContent = say("download", "Download");
    var again = document.createElement("button");
    again.type = "button";
    again.className = "small";
    again.textContent = say("uploadAgain", "Upload again");
    again.addEventListener("click", function () { li.remove(); upload(file); });
    li.append(name, " ", save, " ", again);
    kept.append(li);
    kept.hidden = false;
  }

  function upload(file) {
    return window.scriptoriumUpload(file).then(function (ok) {
      if (ok) {
        var row = document.getElementById("kept-" + file.name.replace(/[^A-Za-z0-9]/g, "-"));
        if (row) row.remove();
        kept.hidden = !kept.children.length;
        return forget(file.name);
      }
      status.textContent = say("recordingKept", "The recording was not uploaded. It is kept in this browser: upload it again or download it.");
      offer(file);
    });
  }

  function levels(stream) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    var ctx = new Ctx();
    var analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(analyser);
    var data = new Float32Array(analyser.fftSize);
    var running = true;
    (function tick() {
      if (!running) return;
      analyser.getFloatTimeDomainData(data);
      var sum = 0;
      for (var i = 0; i < data.length; i++) sum += data[i] * data[i];
      meter.value = Math.min(1, Math.sqrt(sum / data.length) * 4);  // RMS, scaled so speech fills the bar
      requestAnimationFrame(tick);
    })();
    return function () { running = false; meter.value = 0; ctx.close(); };
  }

  function start() {
    status.textContent = say("askingMicrophone", "Asking for the microphone…");
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"].filter(function (t) {
        return MediaRecorder.isTypeSupported(t);
      })[0];
      var recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
      var chunks = [], began = Date.now();
      session = { recorder: recorder, stream: stream, stopLevels: levels(stream) };
      session.timer = setInterval(function () {
        var s = (Date.now() - began) / 1000;
        timeOut.textContent = clock(s);
        timeOut.dataset.seconds = Math.floor(s);
      }, 250);
      recorder.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
      recorder.onstop = function () {
        var mime = (recorder.mimeType || type || "audio/webm").split(";")[0];
        var ext = mime.indexOf("ogg") >= 0 ? "ogg" : mime.indexOf("mp4") >= 0 ? "m4a" : "webm";
        var stamp = new Date(began).toISOString().slice(0, 19).replace("T", " ").replace(/:/g, "-");
        var file = new File(chunks, say("recordingName", "Recording {stamp}", { stamp: stamp }) + "." + ext, { type: mime });
        status.textContent = say("recordedUploading", "Recorded {time}. Uploading…", { time: clock((Date.now() - began) / 1000) });
        keep(file).then(function () { return upload(file); });
      };
      recorder.start(1000);  // a chunk a second, so the recording so far is never only in the encoder
      panel.hidden = false;
      button.disabled = true;
      stopButton.disabled = false;
      stopButton.focus();
      status.textContent = say("recording", "Recording…");
    }).catch(function (err) {
      status.textContent = say("noMicrophone", "The microphone is not available: {error}", { error: err && err.message ? err.message : err });
    });
  }

  function stop() {
    if (!session) return;
    var s = session;
    session = null;
    clearInterval(s.timer);
    if (s.stopLevels) s.stopLevels();
    s.recorder.stop();
    s.stream.getTracks().forEach(function (t) { t.stop(); });
    button.disabled = false;
    stopButton.disabled = true;
  }

  button.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  window.addEventListener("beforeunload", function (e) {
    if (session) { e.preventDefault(); e.returnValue = ""; }
  });

  // Recordings a lost connection (or a closed tab) left behind: offer them again.
  keptFiles().then(function (files) {
    files.forEach(offer);
    if (files.length) status.textContent = say("keptBelow", "Recordings from before that were not uploaded are kept below.");
  });
})();
