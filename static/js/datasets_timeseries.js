// The time-series view: a searchable series picker (only matches are drawn into the list, so a thousand
// series stay quick) and a Plotly chart of the chosen series, fetched from the server one selection at a time.
(function () {
  var MAX_CHOSEN = 12, MAX_LISTED = 200;
  var COLORS = ["#4f46e5", "#0891b2", "#d97706", "#dc2626", "#059669", "#7c3aed", "#db2777", "#65a30d",
                "#0284c7", "#ea580c", "#475569", "#9333ea"];

  function init() {
    var source = document.getElementById("ts-series");
    if (!source || !window.Plotly) return;
    var series = JSON.parse(source.textContent);
    var pointsUrl = JSON.parse(document.getElementById("ts-points-url").textContent);
    var chosen = series.length ? [series[0].key] : [];
    var picker = document.getElementById("ts-picker");
    var search = document.getElementById("ts-search");
    var pickerNote = document.getElementById("ts-picker-note");
    var request = 0;

    // Submitting the roles form on change saves a click; the button stays for keyboard users.
    document.querySelectorAll("#ts-form select, #ts-form input[type=checkbox]").forEach(function (el) {
      el.addEventListener("change", function () { document.getElementById("ts-form").submit(); });
    });

    function renderPicker() {
      if (!picker) return;
      var q = (search.value || "").trim().toLowerCase();
      var matches = q ? series.filter(function (s) { return s.key.toLowerCase().indexOf(q) !== -1; }) : series;
      var frag = document.createDocumentFragment();
      matches.slice(0, MAX_LISTED).forEach(function (s) {
        var item = document.createElement("button");
        item.type = "button";
        var on = chosen.indexOf(s.key) !== -1;
        item.className = "ts-item" + (on ? " active" : "");
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", on ? "true" : "false");
        item.dataset.key = s.key;
        var name = document.createElement("span");
        name.className = "ts-item-name";
        name.textContent = s.key;
        var meta = document.createElement("span");
        meta.className = "ts-item-meta";
        meta.textContent = s.length.toLocaleString() + " pts" + (s.missing ? " · " + s.missing.toLocaleString() + " gaps" : "") +
          (s.duplicates ? " · " + s.duplicates.toLocaleString() + " dup." : "");
        item.appendChild(name);
        item.appendChild(meta);
        if (on) item.style.borderLeftColor = COLORS[chosen.indexOf(s.key) % COLORS.length];
        frag.appendChild(item);
      });
      picker.replaceChildren(frag);
      pickerNote.textContent = matches.length > MAX_LISTED
        ? MAX_LISTED + " of " + matches.length.toLocaleString() + " matches listed; type to narrow."
        : (matches.length ? matches.length.toLocaleString() + " series" : "No series matches.") +
          " · " + chosen.length + " drawn";
    }

    function draw() {
      var ticket = ++request;
      var params = new URLSearchParams(window.location.search);
      params.delete("series");
      chosen.forEach(function (k) { params.append("series", k); });
      var form = document.getElementById("ts-form");
      ["version", "time", "target"].forEach(function (name) {
        var el = form.querySelector("[name=" + name + "]");
        if (el && el.value) params.set(name, el.value);
      });
      params.delete("ids");
      form.querySelectorAll("input[name=ids]:checked").forEach(function (el) { params.append("ids", el.value); });
      var errorBox = document.getElementById("ts-chart-error");
      fetch(pointsUrl + "?" + params.toString(), {credentials: "same-origin"})
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          if (ticket !== request) return;  // a newer selection is on its way
          if (!res.ok) { errorBox.textContent = res.body.error; errorBox.classList.remove("d-none"); return; }
          errorBox.classList.add("d-none");
          var traces = res.body.series.map(function (s, i) {
            return {type: s.time.length > 2000 ? "scattergl" : "scatter", mode: "lines", name: s.key, x: s.time, y: s.value,
                    line: {width: 1.4, color: COLORS[i % COLORS.length]},
                    hovertemplate: "%{x}<br>" + res.body.target + ": %{y:,.4~g}<extra>" + s.key + "</extra>"};
          });
          var layout = {height: 420, margin: {l: 10, r: 10, t: 10, b: 10}, showlegend: traces.length > 1,
                        legend: {orientation: "h", y: -0.18}, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
                        xaxis: {automargin: true, title: {text: res.body.time_column, standoff: 8}, gridcolor: "#eef0f3"},
                        yaxis: {automargin: true, title: {text: res.body.target, standoff: 8}, gridcolor: "#eef0f3"}};
          Plotly.react("ts-chart", traces, layout, {displayModeBar: false, responsive: true});
          var reduced = res.body.series.filter(function (s) { return s.shown < s.points; });
          document.getElementById("ts-chart-note").textContent = reduced.length
            ? reduced.map(function (s) { return s.key + ": " + s.shown.toLocaleString() + " of " + s.points.toLocaleString() +
                " points (lowest and highest of each stretch)"; }).join("; ")
            : res.body.series.map(function (s) { return s.points.toLocaleString(); }).reduce(function (a, b) { return a + (a ? " + " : "") + b; }, "") + " points";
          document.getElementById("ts-chart").dataset.series = chosen.join("|");
        });
    }

    if (picker) {
      picker.addEventListener("click", function (e) {
        var item = e.target.closest(".ts-item");
        if (!item) return;
        var key = item.dataset.key, at = chosen.indexOf(key);
        if (at !== -1) {
          if (chosen.length === 1) return;  // keep one series on the chart
          chosen.splice(at, 1);
        } else {
          if (chosen.length >= MAX_CHOSEN) chosen.shift();
          chosen.push(key);
        }
        renderPicker();
        draw();
      });
      search.addEventListener("input", renderPicker);
    }
    renderPicker();
    draw();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
