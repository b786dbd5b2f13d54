// report.html: the records table (from the JSON in #alog-data), sorting, expanding, chart clicks.
// Text from logs only ever goes through textContent: never innerHTML, never an attribute that runs.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("alog-data").textContent);
  var i18n = data.i18n;
  var open = {};
  var state = {key: "rank", type: "num", dir: 1};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function value(r, key) {
    if (key === "detectors") { return r.detectors.join(", "); }
    if (key === "time") { return r.first || ""; }
    if (key === "lines") { return r.line0; }
    return r[key];
  }

  function compare(a, b) {
    var x = value(a, state.key), y = value(b, state.key);
    if (state.type === "str") {
      if (x === "" && y !== "") { return 1; }    // missing values last, whatever the direction
      if (y === "" && x !== "") { return -1; }
      x = String(x); y = String(y);
      return state.dir * (x < y ? -1 : x > y ? 1 : 0) || a.rank - b.rank;
    }
    return state.dir * (Number(x) - Number(y)) || a.rank - b.rank;
  }

  function detail(r) {
    var tr = el("tr", "detail");
    tr.id = "record-detail-" + r.rank;
    var td = el("td");
    td.colSpan = 7;
    td.appendChild(el("h4", null, i18n.why));
    var ul = el("ul", "reasons");
    r.reasons.forEach(function (text) { ul.appendChild(el("li", null, text)); });
    td.appendChild(ul);
    var meta = el("p", "meta");
    meta.appendChild(el("span", "label", i18n.source + ": "));
    meta.appendChild(el("code", null, r.source));
    meta.appendChild(el("span", "label", " " + i18n.template + ": "));
    meta.appendChild(el("code", null, r.template));
    td.appendChild(meta);
    var pre = el("pre", "lines");
    r.ctx.forEach(function (line) {
      if (line === null) { pre.appendChild(el("div", "gap", i18n.gap)); return; }
      var div = el("div", line[2] ? "line flagged" : "line");
      div.appendChild(el("span", "no", line[0]));
      div.appendChild(el("span", "mark", line[2] ? "\u25b6" : " "));
      div.appendChild(el("span", "text", line[1]));
      pre.appendChild(div);
    });
    td.appendChild(pre);
    if (r.hidden) { td.appendChild(el("p", "hidden", i18n.hidden.replace("{n}", r.hidden))); }
    tr.appendChild(td);
    return tr;
  }

  function render() {
    var tbody = document.querySelector("#records-table tbody");
    if (!tbody) { return; }  // no records: the page says so
    tbody.textContent = "";
    data.records.slice().sort(compare).forEach(function (r) {
      var tr = el("tr", "record");
      tr.id = "record-" + r.rank;
      tr.tabIndex = 0;
      tr.setAttribute("aria-expanded", open[r.rank] ? "true" : "false");
      tr.appendChild(el("td", "num", r.rank));
      tr.appendChild(el("td", "num", r.score.toFixed(3)));
      tr.appendChild(el("td", null, r.detectors.join(", ")));
      tr.appendChild(el("td", "time", r.span || "-"));
      tr.appendChild(el("td", null, r.host || "-"));
      tr.appendChild(el("td", "num", r.lines));
      var summary = el("td", "summary");
      summary.appendChild(el("code", null, r.summary));
      tr.appendChild(summary);
      tr.addEventListener("click", function () { toggle(r.rank); });
      tr.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(r.rank); }
      });
      tbody.appendChild(tr);
      if (open[r.rank]) { tbody.appendChild(detail(r)); }
    });
  }

  function toggle(rank, only_open) {
    if (open[rank] && only_open) { return; }
    open[rank] = !open[rank];
    render();
    var row = document.getElementById("record-" + rank);
    if (row) { row.focus({preventScroll: true}); }
  }

  function sortable(th, onsort) {
    var button = th.querySelector("button");
    button.addEventListener("click", function () {
      var table = th.closest("table");
      var same = table.getAttribute("data-sort-key") === button.getAttribute("data-key");
      var dir = same && th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.querySelectorAll("th").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      table.setAttribute("data-sort-key", button.getAttribute("data-key"));
      onsort(button.getAttribute("data-key"), button.getAttribute("data-type"), dir, th.cellIndex);
    });
  }

  // The records table: sorted from its data.
  document.querySelectorAll("#records-table th").forEach(function (th) {
    sortable(th, function (key, type, dir) { state = {key: key, type: type, dir: dir}; render(); });
  });
  // The host and template tables (rendered by the template): rows reordered by their cells' data-v.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th) {
      sortable(th, function (key, type, dir, col) {
        var tbody = table.tBodies[0];
        var rows = Array.prototype.slice.call(tbody.rows);
        rows.forEach(function (row, i) { row.setAttribute("data-i", row.getAttribute("data-i") || i); });
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var c = type === "num" ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
          return dir * c || Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
        });
        rows.forEach(function (row) { tbody.appendChild(row); });
      });
    });
  });
  // A click on an incident in the timeline opens its record.
  document.querySelectorAll("svg [id^='incident-']").forEach(function (shape) {
    var rank = Number(shape.id.replace(/^incident-(label-)?/, ""));
    if (!data.records.some(function (r) { return r.rank === rank; })) { return; }
    shape.classList.add("clickable");
    shape.addEventListener("click", function () {
      toggle(rank, true);
      document.getElementById("record-" + rank).scrollIntoView({block: "center"});
    });
  });
  render();
  document.documentElement.classList.add("js");
}());
