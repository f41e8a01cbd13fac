// MAMIS pages' shared behaviour, progressive: every page works without it.
// - the header's menu button on phones
// - label/value cards for tables on phones (each cell learns its column's header)
// - focus on a form's error summary, so a screen reader announces it first
// - a show/hide toggle for new-password fields
"use strict";
document.documentElement.classList.add("js");

(function () {
  function menu() {
    var header = document.getElementById("site-header");
    var button = document.getElementById("menu-toggle");
    if (!header || !button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = header.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // The header text of every column, spans expanded.
  function columnLabels(table) {
    var head = table.tHead;
    if (!head || !head.rows.length) return [];
    var labels = [];
    var row = head.rows[head.rows.length - 1];
    for (var i = 0; i < row.cells.length; i++) {
      var cell = row.cells[i];
      var text = cell.textContent.replace(/\s+/g, " ").trim();
      for (var s = 0; s < (cell.colSpan || 1); s++) labels.push(text);
    }
    return labels;
  }

  // Gives each body cell a data-label from its column, honouring rowspans.
  function labelTable(table) {
    var labels = columnLabels(table);
    if (!labels.length) return;
    table.classList.add("cards");
    var sections = Array.prototype.slice.call(table.tBodies);
    if (table.tFoot) sections.push(table.tFoot);
    sections.forEach(function (section) {
      var carried = []; // column -> rows still covered by a rowspan above
      Array.prototype.forEach.call(section.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          while (carried[col] > 0) col++;
          if (!cell.hasAttribute("data-label") && labels[col]) {
            cell.setAttribute("data-label", labels[col]);
          }
          var span = cell.colSpan || 1;
          for (var s = 0; s < span; s++) {
            if ((cell.rowSpan || 1) > 1) carried[col + s] = cell.rowSpan;
          }
          col += span;
        });
        for (var c = 0; c < carried.length; c++) if (carried[c] > 0) carried[c]--;
      });
    });
  }

  function errorSummary() {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  }

  function revealToggles() {
    var fields = document.querySelectorAll("input[data-reveal]");
    Array.prototype.forEach.call(fields, function (input) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "reveal";
      button.setAttribute("aria-controls", input.id);
      button.setAttribute("aria-pressed", "false");
      button.textContent = input.getAttribute("data-show") || "Show";
      button.addEventListener("click", function () {
        var shown = input.type === "text";
        input.type = shown ? "password" : "text";
        button.setAttribute("aria-pressed", shown ? "false" : "true");
        button.textContent = shown
          ? input.getAttribute("data-show") || "Show"
          : input.getAttribute("data-hide") || "Hide";
      });
      input.insertAdjacentElement("afterend", button);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    menu();
    Array.prototype.forEach.call(document.querySelectorAll("main table"), labelTable);
    errorSummary();
    revealToggles();
  });
})();
