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
