/* The small markdown subset the assistant's replies use (paragraphs, line breaks,
   "- " and "1. " lists, [text](url), **bold**, bare links and addresses), rendered the way
   the chat widget renders it (web/widget/imago-chat.js), so staff read what the visitor
   saw. Everything is built with DOM nodes and text: a transcript is hostile input. */
(function () {
  "use strict";
  function el(tag, text) { var n = document.createElement(tag); if (text !== undefined) n.textContent = text; return n; }
  function safeHref(raw) {
    var value = String(raw || "").trim(), url;
    try { url = new URL(value, document.baseURI); } catch (e) { return null; }
    if (/^[a-z][a-z0-9+.\-]*:/i.test(value)) return /^(https?|mailto):$/.test(url.protocol) ? url.href : null;
    return url.origin === location.origin ? url.href : null;
  }
  function link(text, raw) {
    var href = safeHref(raw);
    if (!href) return document.createTextNode(text);
    var a = el("a", text);
    a.href = href;
    if (!/^mailto:/i.test(href)) {
      a.target = "_blank"; a.rel = "noopener noreferrer";
      var hint = el("span", " (opens in a new tab)"); hint.className = "sr-only"; a.appendChild(hint);
    }
    return a;
  }
  var INLINE = "\\[([^\\]\\n]+)\\]\\(\\s*((?:[^()\\s]|\\([^()\\s]*\\))+)\\s*\\)|\\*\\*(.+?)\\*\\*" +
    "|(\\bhttps?:\\/\\/[^\\s<>\"']*[^\\s<>\"'.,;:!?)\\]])|\\b([A-Za-z0-9._%+\\-]+@[A-Za-z0-9.\\-]+\\.[A-Za-z]{2,})\\b";
  function inline(parent, text) {
    var re = new RegExp(INLINE, "g"), last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1] !== undefined) parent.appendChild(link(m[1], m[2]));
      else if (m[3] !== undefined) { var b = el("strong"); inline(b, m[3]); parent.appendChild(b); }
      else if (m[4] !== undefined) parent.appendChild(link(m[4], m[4]));
      else parent.appendChild(link(m[5], "mailto:" + m[5]));
      last = re.lastIndex;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function render(container, text) {
    var lines = String(text).replace(/\r\n?/g, "\n").split("\n"), p = null, list = null, type = null;
    lines.forEach(function (line) {
      var bullet = /^\s*[-*•]\s+(.*)$/.exec(line), numbered = bullet ? null : /^\s*\d{1,3}[.)]\s+(.*)$/.exec(line);
      var item = bullet || numbered;
      if (item) {
        var t = bullet ? "ul" : "ol";
        if (!list || type !== t) { list = el(t); type = t; container.appendChild(list); }
        var li = el("li"); inline(li, item[1]); list.appendChild(li); p = null; return;
      }
      list = null;
      if (!line.trim()) { p = null; return; }
      if (p) p.appendChild(el("br")); else { p = el("p"); container.appendChild(p); }
      inline(p, line);
    });
  }
  window.ImagoMarkdown = { render: render };
})();
