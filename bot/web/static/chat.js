// Web chat for giamngheo-bot. Plain ES2017, no framework, no build step, nothing
// loaded from the network except our own JSON API (the page must work offline-first
// on cheap phones and on isolated office networks).
"use strict";
(function () {
  var SENDER_KEY = "giamngheo.sender";
  var HISTORY_KEY = "giamngheo.history";
  var HISTORY_LIMIT = 200; // keep sessionStorage (≈5 MB) from filling up on long chats
  var MAX_UPLOAD = 5 * 1024 * 1024;
  var POLL_MS = 5000;
  var TIMEOUT_MS = 30000; // slow 2G links: wait long, but not forever

  var $ = function (id) { return document.getElementById(id); };
  var log = $("log"), input = $("input"), sendBtn = $("send"), form = $("composer");
  var welcome = $("welcome"), typing = $("typing"), main = $("main");
  var notice = $("notice"), noticeText = $("notice-text"), retryBtn = $("retry");
  var fileInput = $("file");

  var history = loadHistory();
  var busy = false;
  // The last request that failed at the network level. Retrying it must reuse its
  // message_id so the server can tell a retry from a new message.
  var failed = null;

  // ---- ids & storage -------------------------------------------------------

  function randomId() {
    // crypto.randomUUID only exists in secure contexts; the page may be opened over
    // plain http on a LAN address, so fall back to getRandomValues (always present).
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128; // RFC 4122 v4 bits
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function getSender() {
    // localStorage can throw (private mode, disabled storage): still chat, just forget.
    try {
      var id = localStorage.getItem(SENDER_KEY);
      if (!id) { id = randomId(); localStorage.setItem(SENDER_KEY, id); }
      return id;
    } catch (e) { return window.__giamngheoSender || (window.__giamngheoSender = randomId()); }
  }

  function loadHistory() {
    try { return JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]") || []; } catch (e) { return []; }
  }

  function saveHistory() {
    if (history.length > HISTORY_LIMIT) history = history.slice(-HISTORY_LIMIT);
    try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history)); return; } catch (e) { /* quota */ }
    // Too big: files are what take the space. Keep the text, drop file contents.
    history.forEach(function (m) { if (m.attachment) delete m.attachment.content_b64; });
    try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(history)); } catch (e) { /* give up */ }
  }

  // ---- rendering (server text only ever goes through textContent) ----------

  var URL_RE = /(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]])/;

  // Bot text as text nodes; http(s) links become <a> so officials can open forms.
  function appendText(el, text) {
    String(text || "").split(URL_RE).forEach(function (part, i) {
      if (i % 2) {
        var a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer";
        el.appendChild(a);
      } else if (part) {
        el.appendChild(document.createTextNode(part));
      }
    });
  }

  function b64ToBlob(b64, type) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], { type: type || "application/octet-stream" });
  }

  function renderAttachment(att) {
    var box = document.createElement("div");
    box.className = "file";
    if (att.content_b64 == null) {
      // Dropped from sessionStorage to save space: say so instead of a broken link.
      box.textContent = att.filename + " (tệp không còn, hãy yêu cầu gửi lại)";
      return box;
    }
    var url;
    try {
      url = URL.createObjectURL(b64ToBlob(att.content_b64, att.mime_type));
    } catch (e) { // broken base64 must not break the whole reply
      box.textContent = att.filename + " (tệp bị lỗi)";
      return box;
    }
    if (/^image\//.test(att.mime_type || "")) {
      var img = document.createElement("img");
      img.src = url; img.alt = att.filename; img.className = "thumb";
      box.appendChild(img);
    }
    var a = document.createElement("a");
    a.href = url; a.download = att.filename || "tep"; a.className = "file-link";
    a.setAttribute("data-testid", "attachment-link");
    a.textContent = "Tải về: " + (att.filename || "tệp");
    box.appendChild(a);
    return box;
  }

  function renderMessage(m) {
    var wrap = document.createElement("div");
    wrap.className = "msg " + (m.from === "user" ? "user" : "bot");
    wrap.setAttribute("data-testid", m.from === "user" ? "user-message" : "bot-message");
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    appendText(bubble, m.text);
    if (m.attachment) bubble.appendChild(renderAttachment(m.attachment));
    wrap.appendChild(bubble);
    if (m.buttons && m.buttons.length) {
      var row = document.createElement("div");
      row.className = "choices";
      m.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.className = "choice";
        btn.textContent = b.title;
        btn.disabled = busy;
        btn.setAttribute("data-testid", "reply-button");
        // Older buttons stay live on purpose: the server answers stale ones politely.
        btn.addEventListener("click", function () {
          send({ payload: b.payload }, { from: "user", text: b.title });
        });
        row.appendChild(btn);
      });
      wrap.appendChild(row);
    }
    log.appendChild(wrap);
    return wrap;
  }

  function add(m) {
    renderMessage(m);
    history.push(m);
    saveHistory();
    welcome.hidden = true;
  }

  function scrollDown() { main.scrollTop = main.scrollHeight; }

  function addReplies(replies) {
    (replies || []).forEach(function (r) {
      add({ from: "bot", text: r.text, buttons: r.buttons || [], attachment: r.attachment || null });
    });
    if (replies && replies.length) scrollDown();
  }

  // ---- notices ------------------------------------------------------------

  function showNotice(text, canRetry) {
    noticeText.textContent = text;
    retryBtn.hidden = !canRetry;
    notice.hidden = false;
    scrollDown(); // the notice shrinks the log; keep the latest message in view
  }
  function hideNotice() { notice.hidden = true; }

  function setBusy(on) {
    busy = on;
    sendBtn.disabled = on;
    $("attach").disabled = on;
    $("menu").disabled = on;
    $("start").disabled = on;
    // Block double taps on reply buttons too: a second tap would be a second answer.
    Array.prototype.forEach.call(log.querySelectorAll("button.choice"), function (b) { b.disabled = on; });
    typing.hidden = !on;
    log.setAttribute("aria-busy", on ? "true" : "false");
    if (on) scrollDown();
  }

  // ---- talking to the API -------------------------------------------------

  function postJSON(url, body) {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl && setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: ctl ? ctl.signal : undefined,
      credentials: "same-origin"
    }).finally(function () { clearTimeout(timer); });
  }

  function sameRequest(a, b) {
    return a && b && a.text === b.text && a.payload === b.payload && !a.attachment && !b.attachment;
  }

  // body: {text}|{payload}|{attachment}; echo: the user bubble to show; typed: text to
  // put back in the input if sending fails.
  function send(body, echo, typed, isRetry) {
    if (busy) return;
    body.sender = getSender();
    // One message_id per user action; a retry after a network error reuses it.
    body.message_id = (failed && (isRetry || sameRequest(failed.body, body))) ? failed.body.message_id : randomId();
    hideNotice();
    var pending = echo ? renderMessage(echo) : null; // shown now, saved only on success
    var at = history.length; // its place, so history keeps the on-screen order
    if (pending) pending.classList.add("pending");
    welcome.hidden = true;
    setBusy(true);
    postJSON("/api/chat", body).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.error || "Máy chủ đang gặp sự cố (lỗi " + res.status + "). Vui lòng thử lại sau.");
          err.http = true;
          throw err;
        }
        return data;
      });
    }).then(function (data) {
      failed = null;
      if (pending) { pending.classList.remove("pending"); history.splice(at, 0, echo); saveHistory(); }
      setBusy(false);
      addReplies(data.replies);
      startPolling();
    }).catch(function (err) {
      if (pending) pending.remove();
      if (!history.length) welcome.hidden = false;
      setBusy(false);
      if (typed && !input.value) input.value = typed; // never lose what they typed
      if (err.http) {
        failed = null;
        showNotice(err.message, false);
      } else {
        failed = { body: body, echo: echo, typed: typed };
        showNotice("Không gửi được vì mạng yếu hoặc mất kết nối. Bấm “Thử lại”.", true);
      }
      if (typed) input.focus(); // not after a button tap: no keyboard popping up
    });
  }

  function sendText(text) {
    text = (text || "").trim();
    if (!text) return;
    input.value = "";
    send({ text: text }, { from: "user", text: text }, text);
  }

  // ---- polling for pushed notifications -----------------------------------

  var pollTimer = null, pollDelay = POLL_MS;

  function startPolling() {
    // No conversation yet: nothing can be pushed to us, save the user's data plan.
    if (pollTimer || !history.length) return;
    pollTimer = setTimeout(poll, pollDelay);
  }

  function poll() {
    pollTimer = null;
    if (document.visibilityState !== "visible" || navigator.onLine === false) return; // resumed by events
    // While a message is in flight its replies belong to that answer; polling now
    // could collect them first and show them out of order.
    if (busy) { startPolling(); return; }
    fetch("/api/chat/poll?sender=" + encodeURIComponent(getSender()), { credentials: "same-origin" })
      .then(function (res) { if (!res.ok) throw new Error(res.status); return res.json(); })
      .then(function (data) { pollDelay = POLL_MS; addReplies(data.replies); })
      .catch(function () { pollDelay = Math.min(pollDelay * 2, 60000); }) // back off when down
      .then(startPolling);
  }

  function resumePolling() {
    if (document.visibilityState === "visible" && !pollTimer) { pollDelay = POLL_MS; startPolling(); }
  }

  // ---- wiring -------------------------------------------------------------

  form.addEventListener("submit", function (e) {
    e.preventDefault(); // Enter in the input submits the form: that's our "Enter sends"
    sendText(input.value);
  });
  $("start").addEventListener("click", function () { send({ text: "/start" }, { from: "user", text: "Bắt đầu" }); });
  $("menu").addEventListener("click", function () { send({ text: "/menu" }, { from: "user", text: "Menu" }); });
  retryBtn.addEventListener("click", function () {
    if (!failed) return;
    var f = failed;
    if (f.typed && input.value === f.typed) input.value = "";
    send(f.body, f.echo, f.typed, true);
  });
  $("notice-close").addEventListener("click", hideNotice);

  $("attach").addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = ""; // allow picking the same file again
    if (!file) return;
    if (file.size > MAX_UPLOAD) {
      showNotice("Tệp “" + file.name + "” quá lớn. Vui lòng chọn tệp dưới 5 MB. (Max 5 MB)", false);
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var b64 = String(reader.result).split(",")[1] || ""; // strip "data:...;base64,"
      send({ attachment: { filename: file.name, mime_type: file.type || "application/octet-stream", content_b64: b64 } },
           { from: "user", text: "Tệp: " + file.name });
    };
    reader.onerror = function () { showNotice("Không đọc được tệp này. Vui lòng thử tệp khác.", false); };
    reader.readAsDataURL(file);
  });

  function showOnline() { $("offline").hidden = navigator.onLine !== false; }
  window.addEventListener("online", function () { showOnline(); resumePolling(); });
  window.addEventListener("offline", showOnline);
  document.addEventListener("visibilitychange", resumePolling);

  // ---- boot ---------------------------------------------------------------

  history.forEach(function (m) { renderMessage(m); });
  welcome.hidden = history.length > 0;
  showOnline();
  scrollDown();
  startPolling();
})();
