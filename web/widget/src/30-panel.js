  // ---------------------------------------------------------------- widget DOM

  var ui = buildUi();

  function buildUi() {
    var root = el("div", "imago-chat");
    root.id = "imago-chat";
    root.setAttribute("lang", LANG);
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
    launcher.appendChild(el("span", "imago-chat__launcher-text", TEXT.launcherText));

    var panel = el("section", "imago-chat__panel");
    panel.id = "imago-chat-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", config.title);
    panel.hidden = true;

    // A div, not <header>: inside the dialog a <header> is a second page banner landmark
    // (axe: landmark-no-duplicate-banner, landmark-unique).
    var header = el("div", "imago-chat__header");
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
    var days = config.retentionDays;
    var retention = el("p", "imago-chat__retention",
      days === 1 ? TEXT.keepsOne : TEXT.keepsMany.replace("{days}", String(days)));
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
    bubble.setAttribute("lang", textLanguage(message.text));
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
