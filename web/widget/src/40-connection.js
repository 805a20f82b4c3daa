  // ---------------------------------------------------------------- connection

  var socket = null;
  var ready = false; // session confirmed on the current connection
  var everConnected = false;
  var troubleShown = false; // a "lost"/"unreachable" notice awaits its "Reconnected"
  var outbox = []; // messages typed before the session was confirmed
  // Sent but not answered yet, by client message id: sent again, with the same id, after
  // reconnecting; the server answers a repeat with the reply it had (issue 21).
  var unanswered = {};
  var unansweredOrder = [];
  var messageCounter = 0;
  var socketIoLoading = null;

  function loadSocketIo(done) {
    if (typeof window.io === "function") {
      done(null);
      return;
    }
    if (!socketIoLoading) {
      socketIoLoading = [];
      var tag = el("script");
      tag.src = config.socketIoUrl;
      tag.async = true;
      tag.onload = function () {
        var waiting = socketIoLoading;
        socketIoLoading = null;
        waiting.forEach(function (cb) {
          cb(typeof window.io === "function" ? null : new Error("io missing"));
        });
      };
      tag.onerror = function () {
        var waiting = socketIoLoading;
        socketIoLoading = null;
        waiting.forEach(function (cb) {
          cb(new Error("socket.io client failed to load"));
        });
      };
      document.head.appendChild(tag);
    }
    socketIoLoading.push(done);
  }

  function connect() {
    if (socket) {
      return;
    }
    socket = {}; // placeholder so a second call does not load twice
    loadSocketIo(function (error) {
      if (error) {
        socket = null;
        notice(TEXT.loadFailed);
        return;
      }
      socket = window.io(config.serverUrl, {
        path: config.socketPath,
        // The page and Rasa live on different origins and Rasa turns CORS off
        // for socket.io; websockets are not subject to CORS, polling would be.
        transports: ["websocket"],
        reconnection: true,
        reconnectionDelay: 500,
        reconnectionDelayMax: 4000
      });
      socket.on("connect", onConnect);
      socket.on("session_confirm", onSessionConfirm);
      socket.on(BOT_EVENT, onBotMessage);
      socket.on("reply_done", onReplyDone);
      socket.on("message_not_taken", onNotTaken);
      socket.on("disconnect", onDisconnect);
      socket.on("connect_error", onConnectError);
    });
  }

  function onConnect() {
    ready = false;
    socket.emit("session_request", { session_id: state.sessionId });
    if (troubleShown) {
      troubleShown = false;
      notice(TEXT.reconnected);
    }
    everConnected = true;
  }

  function onSessionConfirm(sessionId) {
    var id = typeof sessionId === "string" ? sessionId : sessionId && sessionId.session_id;
    if (id && id !== state.sessionId) {
      state.sessionId = id;
      saveState();
    }
    ready = true;
    resendUnanswered();
    flushOutbox();
  }

  function newMessageId() {
    messageCounter += 1;
    var random = Math.random().toString(36).slice(2, 10);
    return ("w" + Date.now().toString(36) + random + messageCounter.toString(36)).slice(0, 64);
  }

  function emitMessage(id) {
    socket.emit(USER_EVENT, { message: unanswered[id], session_id: state.sessionId, message_id: id });
  }

  function answered(id) {
    if (id && Object.prototype.hasOwnProperty.call(unanswered, id)) {
      delete unanswered[id];
      unansweredOrder = unansweredOrder.filter(function (x) { return x !== id; });
    }
  }

  function resendUnanswered() {
    unansweredOrder.forEach(function (id) {
      if (Object.prototype.hasOwnProperty.call(unanswered, id)) {
        emitMessage(id);
      }
    });
  }

  function onReplyDone(data) {
    answered(data && data.message_id);
  }

  function onNotTaken(data) {
    var id = data && data.message_id;
    if (!id || !Object.prototype.hasOwnProperty.call(unanswered, id)) {
      return;
    }
    setTimeout(function () {
      if (ready && Object.prototype.hasOwnProperty.call(unanswered, id)) {
        emitMessage(id);
      }
    }, 2000);
  }

  function onDisconnect(reason) {
    ready = false;
    hideTyping();
    if (reason === "io client disconnect") {
      return; // we closed it ourselves
    }
    if (!troubleShown) {
      troubleShown = true;
      notice(TEXT.lost);
    }
    if (reason === "io server disconnect") {
      socket.connect(); // the client does not retry this case by itself
    }
  }

  function onConnectError() {
    if (!troubleShown) {
      troubleShown = true;
      notice(everConnected ? TEXT.lost : TEXT.unreachable);
    }
  }

  function flushOutbox() {
    if (!ready || !socket || typeof socket.emit !== "function") {
      return;
    }
    while (outbox.length) {
      var id = newMessageId();
      unanswered[id] = outbox.shift();
      unansweredOrder.push(id);
      emitMessage(id);
    }
  }

  function normaliseReplies(list) {
    if (!Array.isArray(list)) {
      return [];
    }
    return list
      .filter(function (r) {
        return r && (typeof r.title === "string" || typeof r.payload === "string");
      })
      .map(function (r) {
        var title = String(r.title || r.payload);
        return { title: title, payload: String(r.payload || r.title) };
      });
  }

  function onBotMessage(data) {
    if (!data || typeof data !== "object") {
      return; // e.g. a custom payload not shaped {"data": ...}
    }
    if (data.in_reply_to && !Object.prototype.hasOwnProperty.call(unanswered, data.in_reply_to)) {
      return; // the reply to a message already answered: a repeat's replay
    }
    var text = typeof data.text === "string" ? data.text : "";
    var replies = normaliseReplies(data.quick_replies || data.buttons);
    var attachment = null;
    if (data.attachment && data.attachment.payload && typeof data.attachment.payload.src === "string") {
      attachment = data.attachment.payload.src;
    }
    if (!text && !replies.length && !attachment) {
      return;
    }
    hideTyping();
    var message = { role: "bot", text: text };
    if (replies.length) {
      retireQuickReplies();
      message.quickReplies = replies;
    }
    if (attachment) {
      message.attachment = attachment;
    }
    addMessage(message, { announce: true });
  }

  // ---------------------------------------------------------------- actions

  /** Sends `payload` to Rasa and shows `display` (default: the payload) as the
   *  visitor's message. */
  function sendMessage(payload, display) {
    var text = String(payload || "").trim();
    if (!text) {
      return;
    }
    retireQuickReplies();
    addMessage({ role: "user", text: String(display || text) });
    outbox.push(text);
    showTyping();
    connect();
    flushOutbox();
  }

  function isPhone() {
    return window.matchMedia && window.matchMedia(PHONE_QUERY).matches;
  }

  function open(options) {
    var moveFocus = !options || options.focus !== false;
    if (!isOpen()) {
      ui.panel.hidden = false;
      ui.root.setAttribute("data-state", "open");
      ui.launcher.setAttribute("aria-expanded", "true");
      ui.panel.setAttribute("aria-modal", isPhone() ? "true" : "false");
      document.documentElement.classList.add("imago-chat-open");
      state.open = true;
      saveState();
      connect();
      scrollToEnd();
    }
    if (moveFocus) {
      ui.input.focus();
    }
  }

  function close() {
    if (!isOpen()) {
      return;
    }
    var focusWasInside = ui.panel.contains(document.activeElement);
    ui.panel.hidden = true;
    ui.root.setAttribute("data-state", "closed");
    ui.launcher.setAttribute("aria-expanded", "false");
    document.documentElement.classList.remove("imago-chat-open");
    state.open = false;
    saveState();
    if (focusWasInside || document.activeElement === document.body) {
      ui.launcher.focus();
    }
  }

  function isOpen() {
    return !ui.panel.hidden;
  }

  function toggle() {
    if (isOpen()) {
      close();
    } else {
      open();
    }
  }

  /** Forgets the conversation here and asks Rasa for a fresh session. */
  function reset() {
    state.sessionId = null;
    state.messages = [];
    state.lastMessageAt = null;
    outbox = [];
    unanswered = {};
    unansweredOrder = [];
    hideTyping();
    saveState();
    renderTranscript();
    notice(TEXT.resetDone);
    if (socket && socket.connected) {
      ready = false;
      socket.emit("session_request", { session_id: null });
    }
    ui.input.focus();
  }

  // Keeps Tab inside the panel while it covers the whole screen (phones).
  function trapFocus(event) {
    if (event.key !== "Tab" || !isPhone()) {
      return;
    }
    var focusable = ui.panel.querySelectorAll(
      "button:not([disabled]), input:not([disabled]), a[href], [tabindex]:not([tabindex='-1'])"
    );
    if (!focusable.length) {
      return;
    }
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && document.activeElement === last) {
      first.focus();
      event.preventDefault();
    }
  }
