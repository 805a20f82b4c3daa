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
        appendText(parent, text.slice(last, match.index));
      }
      if (match[1] !== undefined) {
        parent.appendChild(makeLink(match[1], match[2]));
      } else if (match[3] !== undefined) {
        var strong = parent.appendChild(el("strong")); // attached first: appendText reads its lang
        appendInline(strong, match[3]);
      } else if (match[4] !== undefined) {
        parent.appendChild(makeLink(match[4], match[4]));
      } else {
        parent.appendChild(makeLink(match[5], "mailto:" + match[5]));
      }
      last = re.lastIndex;
    }
    if (last < text.length) {
      appendText(parent, text.slice(last));
    }
  }

  // "…" with Latin letters inside Chinese text: the policy's own English words.
  var ENGLISH_QUOTE_RE = /"[^"\u3400-\u9fff]*[A-Za-z][^"\u3400-\u9fff]*"/g;

  /** Plain text; in a Chinese bubble, quoted English is marked lang="en" (WCAG 3.1.2). */
  function appendText(parent, text) {
    var bubble = parent.closest ? parent.closest("[lang]") : null;
    var lang = bubble ? bubble.getAttribute("lang") : "";
    if (!/^zh/.test(lang || "")) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    var last = 0;
    var match;
    var re = new RegExp(ENGLISH_QUOTE_RE.source, "g");
    while ((match = re.exec(text)) !== null) {
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      parent.appendChild(el("span", null, match[0])).setAttribute("lang", "en");
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
        var li = list.appendChild(el("li")); // attached first: appendText reads its lang
        appendInline(li, item[1]);
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
