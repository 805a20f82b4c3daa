// Demo page glue: buttons marked data-open-chat open the chat widget through
// its public API (window.ImagoChat), which exists once the widget script ran.
document.addEventListener("click", function (event) {
  var trigger = event.target.closest && event.target.closest("[data-open-chat]");
  if (trigger && window.ImagoChat) {
    window.ImagoChat.open();
  }
});
