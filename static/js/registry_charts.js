// Charts of the registry pages: primary metric across versions, and a version's trial charts.
(function () {
  "use strict";
  const layout = (title, x, y) => ({
    title: { text: title, font: { size: 14 } }, margin: { l: 55, r: 15, t: 40, b: 45 },
    xaxis: { title: { text: x } }, yaxis: { title: { text: y } }, showlegend: false,
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
  });
  const config = { displaylogo: false, responsive: true };
  const read = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };

  function versionsChart() {
    const data = read("versions-chart-data");
    const target = document.getElementById("versions-chart");
    if (!data || !target) return;
    Plotly.newPlot(target, [{
      x: data.versions, y: data.scores, type: "scatter", mode: "lines+markers+text",
      text: data.scores.map((s) => (s === null ? "" : s.toFixed(4))), textposition: "top center",
      marker: { size: 10, color: "#4f46e5" }, line: { color: "#a5b4fc" },
    }], layout("", "version", data.primary_metric), config);
  }

  function trialCharts() {
    const charts = read("trial-charts");
    if (!charts) return;
    const a = document.getElementById("chart-a"), b = document.getElementById("chart-b");
    if (charts.roc && Object.keys(charts.roc).length) {
      const label = Object.keys(charts.roc)[0], roc = charts.roc[label];
      Plotly.newPlot(a, [{ x: roc.fpr, y: roc.tpr, mode: "lines", line: { color: "#4f46e5" } },
        { x: [0, 1], y: [0, 1], mode: "lines", line: { dash: "dot", color: "#9ca3af" } }],
      layout(`ROC (${label})`, "false positive rate", "true positive rate"), config);
    } else if (charts.predicted_vs_true) {
      const p = charts.predicted_vs_true;
      const lo = Math.min(...p.bin_true_mean), hi = Math.max(...p.bin_true_mean);
      Plotly.newPlot(a, [{ x: p.bin_true_mean, y: p.predicted_mean, mode: "markers+lines", line: { color: "#4f46e5" } },
        { x: [lo, hi], y: [lo, hi], mode: "lines", line: { dash: "dot", color: "#9ca3af" } }],
      layout("Predicted vs true", "true (bin mean)", "predicted (mean)"), config);
    }
    if (charts.confusion_matrix) {
      const cm = charts.confusion_matrix, labels = cm.labels.map(String);
      Plotly.newPlot(b, [{ z: cm.matrix, x: labels, y: labels, type: "heatmap", showscale: false,
        // The trial page's scale: few rows light, many rows dark (Plotly's "Blues" runs the other way).
        colorscale: [[0, "#f5f7ff"], [1, "#6366f1"]],
        text: cm.matrix.map((r) => r.map(String)), texttemplate: "%{text}" }],
      Object.assign(layout("Confusion matrix", "predicted", "true"), { yaxis: { title: { text: "true" }, autorange: "reversed" } }), config);
    } else if (charts.residuals) {
      const r = charts.residuals, mids = r.counts.map((_, i) => (r.bin_edges[i] + r.bin_edges[i + 1]) / 2);
      Plotly.newPlot(b, [{ x: mids, y: r.counts, type: "bar", marker: { color: "#818cf8" } }],
        layout("Residuals", "true − predicted", "rows"), config);
    }
  }

  document.addEventListener("DOMContentLoaded", () => { versionsChart(); trialCharts(); });
})();
