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
 * data-policy-url (default /policy, linked from the line on what the chat keeps),
 * data-lang (the widget's own words: en, zh-Hant, zh-Hans; default the page's <html lang>).
 * The same settings can come from window.ImagoChatConfig = {serverUrl, title,
 * primaryColor, greeting, socketPath, persist, socketioSrc, retentionDays,
 * policyUrl, lang}, set before this script runs; it takes precedence over the attributes.
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
