// Small keyboard helpers; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Arrow keys move through a result list; Enter follows the link.
    document.querySelectorAll("[data-keyboard-list]").forEach(function (list) {
      var links = Array.prototype.slice.call(list.querySelectorAll("a"));
      var input = document.getElementById("q");
      function focusAt(i) { if (links[i]) { links[i].focus(); } }
      if (input) {
        input.addEventListener("keydown", function (e) {
          if (e.key === "ArrowDown") { e.preventDefault(); focusAt(0); }
        });
      }
      links.forEach(function (a, i) {
        a.addEventListener("keydown", function (e) {
          if (e.key === "ArrowDown") { e.preventDefault(); focusAt(i + 1); }
          if (e.key === "ArrowUp") { e.preventDefault(); if (i === 0 && input) { input.focus(); } else { focusAt(i - 1); } }
        });
      });
    });
    // Ctrl+Enter submits the intake form from any field.
    document.querySelectorAll("form[data-ctrl-enter-submit]").forEach(function (form) {
      form.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
      });
    });
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    if (document.body.dataset.autoPrint === "1") { window.setTimeout(function () { window.print(); }, 300); }
  });
})();
