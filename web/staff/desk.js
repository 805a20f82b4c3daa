/* Shared by the desk's pages: the staff token (the escalation console's, kept in this
   tab's sessionStorage), calls to the API, and dates and days left in words. Server
   data is inserted as text only. */
(function () {
  "use strict";
  var BASE = "/webhooks/staff";
  var KEY = "imago-staff-token";
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  var Desk = {
    base: BASE,
    token: function () { return sessionStorage.getItem(KEY) || ""; },
    el: function (tag, cls, text) {
      var n = document.createElement(tag);
      if (cls) n.className = cls;
      if (text !== undefined && text !== null) n.textContent = String(text);
      return n;
    },
    call: function (method, path, body, raw) {
      return fetch(BASE + "/api/" + path, {
        method: method,
        headers: { "Authorization": "Bearer " + Desk.token(), "Content-Type": "application/json" },
        body: body ? JSON.stringify(body) : undefined
      }).then(function (r) {
        if (r.status === 401 || r.status === 403) throw new Error("The staff token was refused. Sign in again.");
        if (r.status === 429) throw new Error("Too many failed attempts: wait a minute.");
        if (!r.ok) {
          return r.json().catch(function () { return {}; }).then(function (d) {
            throw new Error(d.error || ("The server answered " + r.status + "."));
          });
        }
        return raw ? r.text() : r.json();
      });
    },
    // "2 January 2027": never 02/01/2027, which reads two ways (docs/legal-clocks.md).
    day: function (iso) {
      if (!iso) return "";
      var p = String(iso).slice(0, 10).split("-");
      return Number(p[2]) + " " + MONTHS[Number(p[1]) - 1] + " " + p[0];
    },
    moment: function (iso) {
      if (!iso) return "";
      var d = new Date(iso);
      return Desk.day(d.toISOString()) + ", " + d.toISOString().slice(11, 16) + " UTC";
    },
    // The standing in words, so colour is never the only sign (WCAG 1.4.1).
    standing: function (item) {
      var n = item.days_left;
      if (item.standing === "closed") return "closed";
      if (n < 0) return (-n) + (n === -1 ? " day" : " days") + " overdue";
      if (n === 0) return "due today";
      return n + (n === 1 ? " day" : " days") + " left" + (item.standing === "due_soon" ? " (due soon)" : "");
    },
    badge: function (item) {
      return Desk.el("span", "standing " + item.standing, Desk.standing(item));
    },
    showError: function (e) {
      document.getElementById("error").textContent = e ? e.message : "";
      if (e) Desk.signedIn(null);
    },
    // Who the token says you are: the name the audit trail records for your actions.
    signedIn: function (name) {
      document.getElementById("signed-in").textContent = name ? "Signed in as " + name : "";
    },
    signIn: function (onSignedIn) {
      var form = document.getElementById("login");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
        document.getElementById("token").value = "";
        onSignedIn();
      });
      if (Desk.token()) onSignedIn();
    }
  };
  window.Desk = Desk;
})();
