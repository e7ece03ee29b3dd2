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
      500: "The server hit an error. Try again in a moment.",
      503: "The database is briefly unavailable. Try again in a few seconds."
    };
    notice(reasons[xhr.status] || "The request failed (HTTP " + xhr.status + ").");
  });

  document.addEventListener("htmx:sendError", function () {
    notice("The server cannot be reached. Check the connection and try again.");
  });

  // A row or panel swapped by an action loses keyboard focus with the old button: give it
  // back to the first button of the new row or panel, so keyboard users stay in place.
  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    var holder = form.closest && form.closest("tr[id], #schedule-panel");
    refocus = form.matches && form.matches("form.inline") && holder ? holder.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    var holder = document.getElementById(refocus);
    refocus = null;
    var button = holder && holder.querySelector(".actions button, .actions a");
    if (button) button.focus();
  });

  // "Copy" buttons copy the text of the input they name (the API key shown once).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.dataset.copy);
    if (!input) return;
    input.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(input.value).then(done, function () {});
    }
  });

  // Forms that destroy or replace something (revoke a key, rotate it) ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // The error summary's links move keyboard focus to the field, not only the scroll position.
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus();
  });

  // <time data-zone="viewer">: written in UTC by the server, shown in the viewer's own zone;
  // the title keeps the UTC instant for hover.
  function localize(root) {
    var format = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short"
    });
    root.querySelectorAll("time[data-zone='viewer']").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = format.format(at);
    });
  }
  localize(document);
  document.addEventListener("htmx:afterSettle", function (event) { localize(event.target); });

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
