/*!
 * IMAGO chat widget: a chat panel for the Rasa socket.io channel.
 *
 * Embed with one tag; the script loads imago-chat.css next to itself and the
 * socket.io client from ../vendor/socket.io.min.js (built by scripts/build-web.sh):
 *
 *   <script src="/widget/imago-chat.js" defer
 *           data-server-url="http://localhost:5005"
 *           data-title="IMAGO Privacy Assistant"
 *           data-primary-color="#0b5cab"
 *           data-greeting="Hi! Ask me about your privacy."></script>
 *
 * Optional: data-socket-path (default /socket.io), data-persist="false" (keep
 * nothing in localStorage), data-socketio-src (another socket.io bundle URL),
 * data-retention-days (default 30: the stored transcript expires that long after
 * the last message; set it to CONVERSATION_RETENTION_DAYS or less),
 * data-policy-url (default /policy, linked from the line on what the chat keeps).
 * The same settings can come from window.ImagoChatConfig = {serverUrl, title,
 * primaryColor, greeting, socketPath, persist, socketioSrc, retentionDays,
 * policyUrl}, set before this script runs; it takes precedence over the attributes.
 *
 * Public API: window.ImagoChat.open() / close() / toggle() / send(text) /
 * reset() / isOpen() / getSessionId().
 *
 * Security: message content only ever reaches the page through textContent and
 * createElement; links are limited to http(s), mailto and same-origin URLs.
 */
(function () {
  "use strict";

  if (window.ImagoChat && window.ImagoChat.version) {
    return; // embedded twice: the first copy wins
  }

  var VERSION = "1.0.0";
  var MAX_STORED_MESSAGES = 200;
  var TYPING_TIMEOUT_MS = 30000;
  var PHONE_QUERY = "(max-width: 480px)";
  var DAY_MS = 24 * 60 * 60 * 1000;
  var DEFAULT_RETENTION_DAYS = 30; // CONVERSATION_RETENTION_DAYS' default on the server
  // A one-time code as typed ("482913", "482 913", "482-913"): never stored.
  var CODE_SHAPED = /(^|[^\d])(\d{3}[\s-]?\d{3})(?!\d)/g;
  var CODE_MASK = "******";
  var USER_EVENT = "user_uttered";
  var BOT_EVENT = "bot_uttered";

  var TEXT = {
    launcher: "Chat with",
    close: "Close chat",
    reset: "Start a new conversation",
    send: "Send",
    inputLabel: "Your message",
    placeholder: "Type your question…",
    you: "You",
    assistant: "Assistant",
    typing: "The assistant is typing…",
    conversation: "Conversation",
    suggestions: "Suggested replies",
    lost: "Connection lost — reconnecting…",
    unreachable: "The assistant can't be reached right now — retrying…",
    reconnected: "Reconnected",
    loadFailed: "The chat could not be loaded. Please try again later.",
    resetDone: "New conversation started.",
    attachment: "Open attachment",
    newTab: " (opens in a new tab)",
    keeps: function (days) {
      return "This chat keeps your messages for " + (days === 1 ? "1 day" : days + " days") +
        " after your last one, in this browser and on our server; codes are never kept. ";
    },
    policy: "Privacy policy"
  };

  // ---------------------------------------------------------------- config

  var script = document.currentScript || findOwnScript();
  var config = readConfig(script);

  function findOwnScript() {
    var scripts = document.getElementsByTagName("script");
    for (var i = scripts.length - 1; i >= 0; i--) {
      if (/imago-chat(\.min)?\.js(\?|#|$)/.test(scripts[i].src)) {
        return scripts[i];
      }
    }
    return null;
  }

  function readConfig(tag) {
    // data-* attributes on the script tag; a page script may instead (or as
    // well) set window.ImagoChatConfig = {serverUrl: ..., title: ...} before
    // the widget loads, which wins over the attributes.
    var data = {};
    var attrs = (tag && tag.dataset) || {};
    var overrides = window.ImagoChatConfig || {};
    Object.keys(attrs).forEach(function (key) {
      data[key] = attrs[key];
    });
    Object.keys(overrides).forEach(function (key) {
      if (overrides[key] !== undefined && overrides[key] !== null) {
        data[key] = String(overrides[key]);
      }
    });
    var base = (tag && tag.src) || document.baseURI;
    var defaultServer = location.protocol + "//" + location.hostname + ":5005";
    var serverUrl = (data.serverUrl || defaultServer).replace(/\/+$/, "");
    return {
      serverUrl: serverUrl,
      socketPath: data.socketPath || "/socket.io",
      title: data.title || "IMAGO Assistant",
      greeting: data.greeting || "",
      primaryColor: data.primaryColor || "#0b5cab",
      persist: data.persist !== "false",
      retentionDays: positiveNumber(data.retentionDays, DEFAULT_RETENTION_DAYS),
      policyUrl: new URL(data.policyUrl || "/policy", document.baseURI).href,
      cssUrl: new URL("imago-chat.css", base).href,
      socketIoUrl: data.socketioSrc
        ? new URL(data.socketioSrc, document.baseURI).href
        : new URL("../vendor/socket.io.min.js", base).href,
      storageKey: "imago-chat:v1:" + serverUrl
    };
  }

  function positiveNumber(raw, fallback) {
    var value = parseFloat(raw);
    return isFinite(value) && value > 0 ? value : fallback;
  }

  // ---------------------------------------------------------------- storage

  var memoryStore = null; // used when localStorage is unavailable or disabled

  function loadState() {
    var empty = { sessionId: null, messages: [], open: false, lastMessageAt: null };
    var raw = null;
    if (config.persist) {
      try {
        raw = window.localStorage.getItem(config.storageKey);
      } catch (e) {
        raw = null;
      }
    } else {
      raw = memoryStore;
    }
    if (!raw) {
      return empty;
    }
    try {
      var parsed = JSON.parse(raw);
      if (expired(parsed)) {
        forgetStored();
        return empty;
      }
      return {
        sessionId: typeof parsed.sessionId === "string" ? parsed.sessionId : null,
        messages: Array.isArray(parsed.messages) ? parsed.messages.filter(isStoredMessage) : [],
        open: parsed.open === true,
        lastMessageAt: typeof parsed.lastMessageAt === "number" ? parsed.lastMessageAt : null
      };
    } catch (e) {
      return empty;
    }
  }

  /** The transcript and session end together, retentionDays after the last
   * message (the server forgets the conversation then too). A transcript with
   * no date (stored by an older version) counts as expired. */
  function expired(parsed) {
    var hasMessages = Array.isArray(parsed.messages) && parsed.messages.length > 0;
    if (!hasMessages && !parsed.sessionId) {
      return false;
    }
    return typeof parsed.lastMessageAt !== "number" ||
      Date.now() - parsed.lastMessageAt > config.retentionDays * DAY_MS;
  }

  function forgetStored() {
    memoryStore = null;
    try {
      window.localStorage.removeItem(config.storageKey);
    } catch (e) {
      // blocked storage: nothing was kept there
    }
  }

  function maskCodes(text) {
    return text.replace(CODE_SHAPED, "$1" + CODE_MASK);
  }

  /** What is written to storage: the transcript with code-shaped text masked. */
  function storable(current) {
    return {
      sessionId: current.sessionId,
      open: current.open,
      lastMessageAt: current.lastMessageAt,
      messages: current.messages.map(function (m) {
        var copy = {};
        Object.keys(m).forEach(function (key) {
          copy[key] = m[key];
        });
        copy.text = maskCodes(m.text);
        return copy;
      })
    };
  }

  function isStoredMessage(m) {
    return m && (m.role === "bot" || m.role === "user") && typeof m.text === "string";
  }

  function saveState() {
    if (state.messages.length > MAX_STORED_MESSAGES) {
      state.messages = state.messages.slice(-MAX_STORED_MESSAGES);
    }
    var raw = JSON.stringify(storable(state));
    if (!config.persist) {
      memoryStore = raw;
      return;
    }
    try {
      window.localStorage.setItem(config.storageKey, raw);
    } catch (e) {
      // Storage full or blocked: the chat still works, it just won't survive a reload.
    }
  }

  var state = loadState();

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    send: "M3 11.5L21 3l-8.5 18-2.5-7.5L3 11.5z",
    reset: "M4 12a8 8 0 1 0 2.4-5.7M4 4v4.5h4.5"
  };

  function icon(name) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    svg.setAttribute("class", "imago-chat__icon imago-chat__icon--" + name);
    return svg;
  }

  // ---------------------------------------------------------------- markdown

  /** Returns a safe absolute href, or null for anything but http(s), mailto
   *  and same-origin relative URLs (javascript:, data:, //other.host, ...). */
  function safeHref(raw) {
    var value = String(raw || "").trim();
    if (!value) {
      return null;
    }
    var url;
    try {
      url = new URL(value, document.baseURI);
    } catch (e) {
      return null;
    }
    var hasScheme = /^[a-z][a-z0-9+.\-]*:/i.test(value);
    if (hasScheme) {
      return /^(https?|mailto):$/.test(url.protocol) ? url.href : null;
    }
    var sameOrigin = url.origin === location.origin && /^https?:$/.test(url.protocol);
    return sameOrigin ? url.href : null;
  }

  function makeLink(text, rawHref) {
    var href = safeHref(rawHref);
    if (!href) {
      return document.createTextNode(text);
    }
    var a = el("a", "imago-chat__link", text);
    a.setAttribute("href", href);
    if (!/^mailto:/i.test(href)) {
      a.setAttribute("target", "_blank");
      a.setAttribute("rel", "noopener noreferrer");
      var hint = el("span", "imago-chat__sr", TEXT.newTab);
      a.appendChild(hint);
    }
    return a;
  }

  // [text](url) | **bold** | bare http(s) URL | e-mail address
  var INLINE_RE = new RegExp(
    // the URL may hold one level of balanced parentheses: .../Foo_(bar)
    "\\[([^\\]\\n]+)\\]\\(\\s*((?:[^()\\s]|\\([^()\\s]*\\))+)\\s*\\)" +
      "|\\*\\*(.+?)\\*\\*" +
      "|(\\bhttps?:\\/\\/[^\\s<>\"']*[^\\s<>\"'.,;:!?)\\]])" +
      "|\\b([A-Za-z0-9._%+\\-]+@[A-Za-z0-9.\\-]+\\.[A-Za-z]{2,})\\b",
    "g"
  );

  function appendInline(parent, text) {
    var re = new RegExp(INLINE_RE.source, "g");
    var last = 0;
    var match;
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      if (match[1] !== undefined) {
        parent.appendChild(makeLink(match[1], match[2]));
      } else if (match[3] !== undefined) {
        var strong = el("strong");
        appendInline(strong, match[3]);
        parent.appendChild(strong);
      } else if (match[4] !== undefined) {
        parent.appendChild(makeLink(match[4], match[4]));
      } else {
        parent.appendChild(makeLink(match[5], "mailto:" + match[5]));
      }
      last = re.lastIndex;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  /** Renders the small markdown subset Rasa responses use: paragraphs, line
   *  breaks, "- " / "* " bullet lists, "1. " numbered lists, links, bold. */
  function renderMarkdown(container, text) {
    var lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    var paragraph = null;
    var list = null;
    var listType = null;
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      var bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
      var numbered = bullet ? null : /^\s*\d{1,3}[.)]\s+(.*)$/.exec(line);
      var item = bullet || numbered;
      if (item) {
        var type = bullet ? "ul" : "ol";
        if (!list || listType !== type) {
          list = el(type, "imago-chat__list");
          listType = type;
          container.appendChild(list);
        }
        var li = el("li");
        appendInline(li, item[1]);
        list.appendChild(li);
        paragraph = null;
        continue;
      }
      list = null;
      if (!line.trim()) {
        paragraph = null;
        continue;
      }
      if (paragraph) {
        paragraph.appendChild(el("br"));
      } else {
        paragraph = el("p");
        container.appendChild(paragraph);
      }
      appendInline(paragraph, line);
    }
  }

  // ---------------------------------------------------------------- colours

  function parseRgb(value) {
    var m = /rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)/.exec(value || "");
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  function contrast(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  /** Sets the theme colours, picking text colours that keep WCAG AA contrast
   *  whatever primary colour the page asks for. */
  function applyTheme(root) {
    var colour = config.primaryColor;
    if (!(window.CSS && CSS.supports && CSS.supports("color", colour))) {
      colour = "#0b5cab";
    }
    var probe = el("span");
    probe.style.color = colour;
    root.appendChild(probe);
    var rgb = parseRgb(getComputedStyle(probe).color) || [11, 92, 171];
    root.removeChild(probe);
    var white = [255, 255, 255];
    var dark = [26, 26, 26];
    var bubble = [241, 243, 246];
    root.style.setProperty("--imago-chat-primary", colour);
    root.style.setProperty(
      "--imago-chat-on-primary",
      contrast(rgb, white) >= contrast(rgb, dark) ? "#ffffff" : "#1a1a1a"
    );
    // Links and quick replies sit on light backgrounds: fall back to a dark
    // blue when the primary colour is too light to read there.
    var readable = contrast(rgb, bubble) >= 4.5 && contrast(rgb, white) >= 4.5;
    root.style.setProperty("--imago-chat-accent", readable ? colour : "#0b4f94");
  }

  // ---------------------------------------------------------------- widget DOM

  var ui = buildUi();

  function buildUi() {
    var root = el("div", "imago-chat");
    root.id = "imago-chat";
    root.setAttribute("data-state", "loading");

    var launcher = el("button", "imago-chat__launcher");
    launcher.id = "imago-chat-launcher";
    launcher.type = "button";
    // One stable name; aria-expanded tells whether the chat is open.
    launcher.setAttribute("aria-label", TEXT.launcher + " " + config.title);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "imago-chat-panel");
    launcher.setAttribute("aria-haspopup", "dialog");
    launcher.appendChild(icon("chat"));
    launcher.appendChild(el("span", "imago-chat__launcher-text", "Chat"));

    var panel = el("section", "imago-chat__panel");
    panel.id = "imago-chat-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", config.title);
    panel.hidden = true;

    var header = el("header", "imago-chat__header");
    var title = el("h2", "imago-chat__title", config.title);
    var resetButton = el("button", "imago-chat__header-button imago-chat__reset");
    resetButton.type = "button";
    resetButton.setAttribute("aria-label", TEXT.reset);
    resetButton.title = TEXT.reset;
    resetButton.appendChild(icon("reset"));
    var closeButton = el("button", "imago-chat__header-button imago-chat__close");
    closeButton.type = "button";
    closeButton.setAttribute("aria-label", TEXT.close);
    closeButton.title = TEXT.close;
    closeButton.appendChild(icon("close"));
    header.appendChild(title);
    header.appendChild(resetButton);
    header.appendChild(closeButton);

    // What the chat keeps and for how long, until the visitor's first message.
    var retention = el("p", "imago-chat__retention", TEXT.keeps(config.retentionDays));
    retention.id = "imago-chat-retention";
    var policyHref = config.policyUrl.indexOf("#") === -1 ? config.policyUrl + "#retention" : config.policyUrl;
    retention.appendChild(makeLink(TEXT.policy, policyHref));

    var log = el("ol", "imago-chat__log");
    log.id = "imago-chat-log";
    log.setAttribute("aria-label", TEXT.conversation);
    log.tabIndex = 0; // lets keyboard users scroll a long conversation

    var typing = el("div", "imago-chat__typing");
    typing.hidden = true;
    var dots = el("span", "imago-chat__dots");
    dots.setAttribute("aria-hidden", "true");
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    typing.appendChild(dots);
    typing.appendChild(el("span", "imago-chat__sr", TEXT.typing));

    var form = el("form", "imago-chat__form");
    form.setAttribute("novalidate", "");
    var label = el("label", "imago-chat__sr", TEXT.inputLabel);
    label.htmlFor = "imago-chat-input";
    var input = el("input", "imago-chat__input");
    input.id = "imago-chat-input";
    input.type = "text";
    input.autocomplete = "off";
    input.maxLength = 1000;
    input.placeholder = TEXT.placeholder;
    input.setAttribute("enterkeyhint", "send");
    var sendButton = el("button", "imago-chat__send");
    sendButton.type = "submit";
    sendButton.setAttribute("aria-label", TEXT.send);
    sendButton.appendChild(icon("send"));
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendButton);

    // Screen readers hear new bot messages and connection notices from here.
    var live = el("div", "imago-chat__sr imago-chat__live");
    live.setAttribute("aria-live", "polite");
    live.setAttribute("aria-atomic", "false");

    panel.appendChild(header);
    panel.appendChild(retention);
    panel.appendChild(log);
    panel.appendChild(typing);
    panel.appendChild(form);
    panel.appendChild(live);
    root.appendChild(panel);
    root.appendChild(launcher);

    return {
      root: root,
      launcher: launcher,
      panel: panel,
      log: log,
      typing: typing,
      form: form,
      input: input,
      sendButton: sendButton,
      resetButton: resetButton,
      closeButton: closeButton,
      retention: retention,
      live: live
    };
  }

  // ---------------------------------------------------------------- transcript

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function announce(text) {
    if (!text) {
      return;
    }
    var item = el("p", null, text);
    ui.live.appendChild(item);
    while (ui.live.childNodes.length > 3) {
      ui.live.removeChild(ui.live.firstChild);
    }
  }

  function renderMessage(message, index) {
    var item = el("li", "imago-chat__message imago-chat__message--" + message.role);
    item.appendChild(
      el("span", "imago-chat__sr", (message.role === "user" ? TEXT.you : TEXT.assistant) + ": ")
    );
    var bubble = el("div", "imago-chat__bubble");
    if (message.role === "bot") {
      renderMarkdown(bubble, message.text);
      if (message.attachment) {
        var p = el("p");
        p.appendChild(makeLink(TEXT.attachment, message.attachment));
        bubble.appendChild(p);
      }
    } else {
      bubble.textContent = message.text; // what the visitor typed, verbatim
    }
    item.appendChild(bubble);
    if (message.quickReplies && message.quickReplies.length && !message.answered) {
      item.appendChild(renderQuickReplies(message, index));
    }
    ui.log.appendChild(item);
    return item;
  }

  function renderQuickReplies(message) {
    var group = el("div", "imago-chat__replies");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", TEXT.suggestions);
    message.quickReplies.forEach(function (reply) {
      var button = el("button", "imago-chat__reply", reply.title);
      button.type = "button";
      button.addEventListener("click", function () {
        sendMessage(reply.payload, reply.title);
      });
      group.appendChild(button);
    });
    return group;
  }

  function addMessage(message, options) {
    state.messages.push(message);
    state.lastMessageAt = Date.now();
    saveState();
    updateRetentionLine();
    var item = renderMessage(message, state.messages.length - 1);
    if (options && options.announce) {
      announce(config.title + ": " + item.querySelector(".imago-chat__bubble").textContent);
    }
    scrollToEnd();
    return item;
  }

  /** Connection and status lines: shown and announced, never stored. */
  function notice(text) {
    var item = el("li", "imago-chat__notice", text);
    ui.log.appendChild(item);
    announce(text);
    scrollToEnd();
  }

  /** Quick replies are one-shot: once the visitor answers, they go away. */
  function retireQuickReplies() {
    var changed = false;
    state.messages.forEach(function (m) {
      if (m.quickReplies && m.quickReplies.length && !m.answered) {
        m.answered = true;
        changed = true;
      }
    });
    if (changed) {
      var groups = ui.log.querySelectorAll(".imago-chat__replies");
      for (var i = 0; i < groups.length; i++) {
        groups[i].parentNode.removeChild(groups[i]);
      }
    }
  }

  function renderTranscript() {
    while (ui.log.firstChild) {
      ui.log.removeChild(ui.log.firstChild);
    }
    if (!state.messages.length && config.greeting) {
      state.messages.push({ role: "bot", text: config.greeting });
      saveState();
    }
    state.messages.forEach(renderMessage);
    updateRetentionLine();
    scrollToEnd();
  }

  /** Shown (and read with the dialog) until the visitor has said something. */
  function updateRetentionLine() {
    var started = state.messages.some(function (m) {
      return m.role === "user";
    });
    ui.retention.hidden = started;
    if (started) {
      ui.panel.removeAttribute("aria-describedby");
    } else {
      ui.panel.setAttribute("aria-describedby", ui.retention.id);
    }
  }

  var typingTimer = null;

  function showTyping() {
    ui.typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    scrollToEnd();
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    ui.typing.hidden = true;
  }

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

  // ---------------------------------------------------------------- wiring

  ui.launcher.addEventListener("click", toggle);
  ui.closeButton.addEventListener("click", close);
  ui.resetButton.addEventListener("click", reset);
  ui.form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = ui.input.value;
    if (!text.trim()) {
      ui.input.focus();
      return;
    }
    ui.input.value = "";
    sendMessage(text);
    ui.input.focus();
  });
  ui.root.addEventListener("keydown", function (event) {
    if ((event.key === "Escape" || event.key === "Esc") && isOpen()) {
      event.preventDefault();
      event.stopPropagation();
      close();
      return;
    }
    trapFocus(event);
  });
  if (window.matchMedia) {
    var phoneQuery = window.matchMedia(PHONE_QUERY);
    var onResize = function () {
      if (isOpen()) {
        ui.panel.setAttribute("aria-modal", isPhone() ? "true" : "false");
      }
    };
    if (phoneQuery.addEventListener) {
      phoneQuery.addEventListener("change", onResize);
    }
  }

  function loadStyles(done) {
    var existing = document.querySelector('link[data-imago-chat-css]');
    if (existing) {
      done();
      return;
    }
    var link = el("link");
    link.rel = "stylesheet";
    link.href = config.cssUrl;
    link.setAttribute("data-imago-chat-css", "");
    var finished = false;
    var finish = function () {
      if (!finished) {
        finished = true;
        done();
      }
    };
    link.onload = finish;
    link.onerror = finish;
    setTimeout(finish, 3000); // never keep the launcher hidden for long
    document.head.appendChild(link);
  }

  function mount() {
    ui.root.style.visibility = "hidden"; // until the stylesheet is in
    document.body.appendChild(ui.root);
    applyTheme(ui.root); // computed colours need the node in the document
    renderTranscript();
    loadStyles(function () {
      ui.root.style.visibility = "";
      ui.root.setAttribute("data-state", state.open ? "open" : "closed");
      if (state.open) {
        open({ focus: false }); // a reload restores an open chat without stealing focus
      }
    });
  }

  window.ImagoChat = {
    version: VERSION,
    open: function () {
      open();
    },
    close: close,
    toggle: toggle,
    isOpen: isOpen,
    reset: reset,
    send: function (text) {
      open({ focus: false });
      sendMessage(text);
    },
    getSessionId: function () {
      return state.sessionId;
    }
  };

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
