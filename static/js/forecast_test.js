// The Test tab of a forecasting endpoint: forecast the chosen series a number of periods ahead with the
// covariates given, and draw the forecast and its 10-90% band after the series' recent history.
(function () {
  function csrf() { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }

  function init() {
    var form = document.getElementById("fc-test-form");
    if (!form) return;
    var select = document.getElementById("fc-test-series"), search = document.getElementById("fc-test-search");
    var all = Array.prototype.map.call(select.options, function (o) { return o.value; });
    search.addEventListener("input", function () {
      var q = search.value.trim().toLowerCase(), current = select.value;
      select.replaceChildren.apply(select, all.filter(function (s) { return !q || s.toLowerCase().indexOf(q) !== -1; })
        .slice(0, 500).map(function (s) { var o = new Option(s, s, false, s === current); return o; }));
      if (!select.value && select.options.length) select.options[0].selected = true;
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var covariates = {};
      form.querySelectorAll("[data-covariate]").forEach(function (el) {
        if (el.value.trim() === "") return;
        covariates[el.dataset.covariate] = el.dataset.type === "Numeric" ? Number(el.value) : el.value;
      });
      var out = document.getElementById("fc-test-result");
      out.textContent = "Forecasting…";
      fetch(form.dataset.url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify({series: select.value, periods: Number(document.getElementById("fc-test-periods").value),
                              covariates: covariates, deployment: document.getElementById("fc-test-deployment").value})})
        .then(function (r) { return r.json().then(function (body) { return {status: r.status, body: body}; }); })
        .then(function (res) {
          if (res.status !== 200) {
            var body = res.body.result || res.body;
            out.innerHTML = "";
            var p = document.createElement("div");
            p.className = "alert alert-danger mb-0";
            p.textContent = body.detail + (body.errors && body.errors.length ? " " + body.errors.map(function (x) {
              return "Row " + x.row + ", " + x.column + ": " + x.message; }).join(" ") : "");
            out.appendChild(p);
            return;
          }
          var r = res.body.result, h = res.body.history;
          var lower = r.quantiles["0.1"], upper = r.quantiles["0.9"];
          Plotly.react("fc-test-chart", [
            {type: "scatter", mode: "lines", name: "history", x: h.time, y: h.value, line: {color: "#111827", width: 1.5}},
            {type: "scatter", mode: "lines", x: r.time, y: upper, line: {width: 0}, showlegend: false, hoverinfo: "skip"},
            {type: "scatter", mode: "lines", x: r.time, y: lower, fill: "tonexty", fillcolor: "rgba(79,70,229,0.15)",
             line: {width: 0}, name: "10–90% interval"},
            {type: "scatter", mode: "lines+markers", name: "forecast", x: r.time, y: r.predictions,
             line: {color: "#4f46e5", width: 2}, marker: {size: 5}}
          ], {height: 360, margin: {l: 10, r: 10, t: 10, b: 10}, legend: {orientation: "h", y: -0.2},
              paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
              xaxis: {automargin: true, gridcolor: "#eef0f3"}, yaxis: {automargin: true, gridcolor: "#eef0f3"}},
             {displayModeBar: false, responsive: true});
          out.textContent = r.predictions.length + " periods forecast for " + select.value + " by " + res.body.deployment + ".";
          document.getElementById("fc-test-chart").dataset.points = String(r.predictions.length);
        });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
