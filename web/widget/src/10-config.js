  // ---------------------------------------------------------------- config

  var script = document.currentScript || findOwnScript();
  var LANG = widgetLanguage((script && script.dataset && script.dataset.lang) ||
    (window.ImagoChatConfig && window.ImagoChatConfig.lang) || document.documentElement.lang);
  // The widget's own words in the page's language (WIDGET_TEXTS is generated from
  // data/texts/<language>.yml by scripts/build-web.sh).
  var TEXT = WIDGET_TEXTS[LANG];
  var config = readConfig(script);

  /** data-lang, else <html lang>: "zh-HK", "zh-TW", "zh-Hant", "yue" read Traditional;
   *  "zh", "zh-CN", "zh-SG", "zh-Hans" Simplified; anything else English. */
  function widgetLanguage(raw) {
    var tag = String(raw || "").toLowerCase();
    if (/^(zh-(hant|hk|mo|tw)|yue)\b/.test(tag)) {
      return "zh-Hant";
    }
    if (/^zh\b/.test(tag)) {
      return "zh-Hans";
    }
    return "en";
  }

  // Characters only one Chinese script writes: a bubble's lang is read from them.
  var TRADITIONAL_ONLY = "們個資這會為說請驗證碼電郵與處護隱號時後開關應經對問題還沒讓寫從將給過見並覽絡聯務團隊單認識麼儲錄禮條網頁線話內發";
  var SIMPLIFIED_ONLY = "们个资这会为说请验证码电邮与处护隐号时后开关应经对问题还没让写从将给过见并览络联务团队单认识么储录礼条网页线话内发";

  /** The language of one message, for its lang attribute (WCAG 3.1.2, language of parts). */
  function textLanguage(text) {
    var value = String(text || "");
    if (!/[\u3400-\u9fff]/.test(value)) {
      return "en";
    }
    var trad = 0;
    var simp = 0;
    for (var i = 0; i < value.length; i++) {
      if (TRADITIONAL_ONLY.indexOf(value[i]) !== -1) {
        trad++;
      } else if (SIMPLIFIED_ONLY.indexOf(value[i]) !== -1) {
        simp++;
      }
    }
    if (trad !== simp) {
      return trad > simp ? "zh-Hant" : "zh-Hans";
    }
    return LANG === "en" ? "zh" : LANG;
  }

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
      title: data.title || TEXT.title,
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
