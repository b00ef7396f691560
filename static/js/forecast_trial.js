// A forecasting trial: forecast against actuals for the chosen series, one trace pair per window (validation
// origins or test data) with the interval band; a searchable series picker; a sortable per-series table.
(function () {
  var MAX_LISTED = 200;
  var COLORS = ["#4f46e5", "#0891b2", "#d97706", "#dc2626", "#059669", "#7c3aed"];

  function init() {
    var source = document.getElementById("fc-data");
    if (!source || !window.Plotly) return;
    var data = JSON.parse(source.textContent);
    if (!data) return;
    var state = {series: data.series[0], kind: "validation"};
    var picker = document.getElementById("fc-picker"), search = document.getElementById("fc-search");

    function renderPicker() {
      var q = (search.value || "").trim().toLowerCase();
      var matches = data.series.filter(function (s) { return !q || s.toLowerCase().indexOf(q) !== -1; });
      var frag = document.createDocumentFragment();
      matches.slice(0, MAX_LISTED).forEach(function (s) {
        var item = document.createElement("button");
        item.type = "button";
        item.className = "ts-item" + (s === state.series ? " active" : "");
        item.dataset.key = s;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", s === state.series ? "true" : "false");
        var name = document.createElement("span");
        name.className = "ts-item-name";
        name.textContent = s;
        item.appendChild(name);
        frag.appendChild(item);
      });
      picker.replaceChildren(frag);
    }

    function draw() {
      var windows = data.windows.filter(function (w) { return w.series === state.series && w.kind === state.kind; });
      var traces = [], actualX = [], actualY = [];
      windows.forEach(function (w, i) {
        var color = COLORS[i % COLORS.length], label = w.kind === "test" ? "test" : "origin " + String(w.origin).replace(" 00:00:00", "");
        if (w.lower && w.upper) {
          traces.push({type: "scatter", mode: "lines", x: w.time, y: w.upper, line: {width: 0}, showlegend: false,
                       hoverinfo: "skip", legendgroup: label});
          traces.push({type: "scatter", mode: "lines", x: w.time, y: w.lower, fill: "tonexty", line: {width: 0},
                       fillcolor: "rgba(79,70,229,0.15)", name: "10–90% interval", showlegend: i === 0,
                       hoverinfo: "skip", legendgroup: label});
        }
        traces.push({type: "scatter", mode: "lines+markers", x: w.time, y: w.forecast, name: "forecast, " + label,
                     line: {color: color, width: 2, dash: "dot"}, marker: {size: 4}});
        actualX = actualX.concat(w.time);
        actualY = actualY.concat(w.actual);
      });
      var order = actualX.map(function (t, i) { return i; }).sort(function (a, b) { return actualX[a] < actualX[b] ? -1 : 1; });
      traces.unshift({type: "scatter", mode: "lines+markers", name: "actual", x: order.map(function (i) { return actualX[i]; }),
                      y: order.map(function (i) { return actualY[i]; }), line: {color: "#111827", width: 1.5}, marker: {size: 4}});
      Plotly.react("fc-chart", traces, {
        height: 400, margin: {l: 10, r: 10, t: 10, b: 10}, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        legend: {orientation: "h", y: -0.2}, xaxis: {automargin: true, gridcolor: "#eef0f3", title: {text: "time", standoff: 8}},
        yaxis: {automargin: true, gridcolor: "#eef0f3", title: {text: "value", standoff: 8}}
      }, {displayModeBar: false, responsive: true});
      document.getElementById("fc-chart").dataset.series = state.series;
      document.getElementById("fc-chart").dataset.windows = String(windows.length);
    }

    picker.addEventListener("click", function (e) {
      var item = e.target.closest(".ts-item");
      if (!item) return;
      state.series = item.dataset.key;
      renderPicker();
      draw();
    });
    search.addEventListener("input", renderPicker);
    document.querySelectorAll("#fc-kind [data-kind]").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll("#fc-kind [data-kind]").forEach(function (b) { b.classList.toggle("active", b === button); });
        state.kind = button.dataset.kind;
        draw();
      });
    });

    var table = document.getElementById("fc-series-table");
    if (table) {
      table.querySelectorAll("th[data-sort]").forEach(function (th, column) {
        th.style.cursor = "pointer";
        th.addEventListener("click", function () {
          var descending = th.dataset.sorted !== "desc";
          table.querySelectorAll("th").forEach(function (h) { delete h.dataset.sorted; });
          th.dataset.sorted = descending ? "desc" : "asc";
          var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[column], y = b.cells[column], r;
            if (th.dataset.sort === "number") {
              var u = parseFloat(x.dataset.value), v = parseFloat(y.dataset.value);
              if (isNaN(u)) return 1;
              if (isNaN(v)) return -1;
              r = u - v;
            } else { r = x.textContent.localeCompare(y.textContent); }
            return descending ? -r : r;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
      table.tBodies[0].addEventListener("click", function (e) {
        var row = e.target.closest("tr[data-series]");
        if (!row) return;
        state.series = row.dataset.series;
        search.value = "";  // show the drawn series in the picker, whatever was searched before
        renderPicker();
        draw();
        document.getElementById("fc-chart").scrollIntoView({behavior: "smooth", block: "center"});
      });
    }
    renderPicker();
    draw();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
