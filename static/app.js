/* Scheduler dashboard: the little behaviour htmx does not cover. No inline scripts anywhere. */
(function () {
  "use strict";

  // Controls that only matter without JavaScript (a filter's Apply button) can hide now.
  document.documentElement.classList.add("js");

  function notice(message) {
    var region = document.getElementById("notice");
    if (!region) return;
    var p = document.createElement("p");
    p.className = "notice notice-error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    region.replaceChildren(p);
  }

  // Errors htmx does not swap (see the htmx-config meta tag) still deserve a word.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 409 || xhr.status === 429) return; // the server sent the message itself
    var reasons = {
      400: "The request was refused. Reload the page and try again.",
      401: "Your session has ended. Sign in again.",
      404: "Not found: it may have been removed. Reload the page.",
      500: "The server hit an error. Try again in a moment."
    };
    notice(reasons[xhr.status] || "The request failed (HTTP " + xhr.status + ").");
  });

  document.addEventListener("htmx:sendError", function () {
    notice("The server cannot be reached. Check the connection and try again.");
  });

  // Switching the builder to "Custom cron" starts from the expression it was showing.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name !== "kind" || input.value !== "custom") return;
    var field = document.getElementById("cron_expression");
    var shown = document.querySelector("#preview [data-expression]");
    if (field && !field.value && shown && shown.dataset.expression) {
      field.value = shown.dataset.expression;
    }
  });
})();
