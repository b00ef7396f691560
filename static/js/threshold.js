// The threshold explorer: precision, recall, F1 and expected cost of a binary classifier as its decision
// threshold moves, computed from the per-threshold counts the page carries (no request per change).
(function () {
  const source = document.getElementById("threshold-table");
  if (!source) return;
  const table = JSON.parse(source.textContent);
  const slider = document.getElementById("threshold-slider");
  const number = document.getElementById("threshold-value");
  const costFp = document.getElementById("cost-fp");
  const costFn = document.getElementById("cost-fn");
  const chart = document.getElementById("threshold-chart");
  const ratio = (a, b) => (b > 0 ? a / b : null);
  const fmt = (v) => (v === null ? "—" : v.toFixed(4));

  function at(i) {
    const tp = table.tp[i], fp = table.fp[i], fn = table.fn[i], tn = table.tn[i];
    const precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    const f1 = precision === null || recall === null || precision + recall === 0 ? null
      : 2 * precision * recall / (precision + recall);
    const cost = (fp * (parseFloat(costFp.value) || 0) + fn * (parseFloat(costFn.value) || 0)) / table.rows;
    return {tp, fp, fn, tn, precision, recall, f1, cost};
  }
  function index() {
    const value = Math.min(1, Math.max(0, parseFloat(number.value) || 0));
    return Math.round(value * (table.thresholds.length - 1));
  }
  function draw() {
    const points = table.thresholds.map((_, i) => at(i));
    const i = index();
    const x = table.thresholds;
    const layout = {
      height: 300, margin: {l: 55, r: 60, t: 10, b: 45}, legend: {orientation: "h", y: -0.25},
      xaxis: {title: {text: "threshold"}, range: [0, 1]},
      yaxis: {title: {text: "precision, recall, F1"}, range: [0, 1.02]},
      yaxis2: {title: {text: "cost per row"}, overlaying: "y", side: "right", rangemode: "tozero"},
      shapes: [{type: "line", x0: x[i], x1: x[i], y0: 0, y1: 1, yref: "paper", line: {color: "#111827", dash: "dot"}}],
      font: {family: "system-ui, sans-serif", size: 12}, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    };
    const line = (key, name, color) => ({type: "scatter", mode: "lines", x, y: points.map((p) => p[key]), name,
      line: {color}, hovertemplate: name + " %{y:.3f} at %{x:.2f}<extra></extra>"});
    const data = [line("precision", "precision", "#4f46e5"), line("recall", "recall", "#059669"),
      line("f1", "F1", "#d97706"),
      Object.assign(line("cost", "expected cost", "#dc2626"), {yaxis: "y2"})];
    if (window.Plotly && chart) Plotly.react(chart, data, layout, {displayModeBar: false, responsive: true});
    const p = points[i];
    document.getElementById("th-precision").textContent = fmt(p.precision);
    document.getElementById("th-recall").textContent = fmt(p.recall);
    document.getElementById("th-f1").textContent = fmt(p.f1);
    document.getElementById("th-cost").textContent = p.cost.toFixed(4);
    document.getElementById("th-counts").textContent =
      `${p.tp} true positives, ${p.fp} false positives, ${p.fn} false negatives, ${p.tn} true negatives`;
    const form = document.getElementById("threshold-form");
    if (form) {
      document.getElementById("threshold-field").value = x[i].toFixed(2);
      document.getElementById("cost-fp-field").value = costFp.value;
      document.getElementById("cost-fn-field").value = costFn.value;
    }
  }
  slider.addEventListener("input", () => { number.value = slider.value; draw(); });
  number.addEventListener("input", () => { slider.value = number.value; draw(); });
  costFp.addEventListener("input", draw);
  costFn.addEventListener("input", draw);
  document.getElementById("threshold-cheapest").addEventListener("click", () => {
    let best = 0;
    table.thresholds.forEach((_, i) => { if (at(i).cost < at(best).cost) best = i; });
    number.value = slider.value = table.thresholds[best].toFixed(2);
    draw();
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
