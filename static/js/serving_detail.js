// Endpoint page: the Test tab (form <-> JSON, scoring through the studio), copy buttons, traffic total and
// the monitoring charts.
(function () {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const csrf = () => JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined) node.textContent = text;
    return node;
  };

  function rowFromForm() {
    const row = {};
    document.querySelectorAll("#test-form [data-column]").forEach((input) => {
      const raw = input.value.trim();
      if (raw === "") { row[input.dataset.column] = null; return; }
      if (input.dataset.type === "Numeric") {
        const n = Number(raw);
        row[input.dataset.column] = Number.isFinite(n) ? n : raw;  // the server names a non-number clearly
      } else {
        row[input.dataset.column] = raw;
      }
    });
    return row;
  }

  function formFromJson() {
    try {
      const body = JSON.parse($("#test-json").value);
      const row = (body.data || [])[0] || {};
      document.querySelectorAll("#test-form [data-column]").forEach((input) => {
        const v = row[input.dataset.column];
        input.value = v === null || v === undefined ? "" : String(v);
      });
    } catch (e) { /* keep the form as it is; the JSON editor shows the text */ }
  }

  function showResult(status, body, headers) {
    const box = $("#test-result");
    box.replaceChildren();
    if (status === 200) {
      const meta = el("div", { class: "small text-body-secondary mb-2" },
        `HTTP 200 · deployment ${headers.get("X-Deployment") || "?"} · model version ${headers.get("X-Model-Version") || "?"}`);
      box.appendChild(meta);
      body.predictions.forEach((prediction, i) => {
        const card = el("div", { class: "mb-2" });
        const head = el("div", { class: "fs-4 fw-semibold", "data-testid": "test-prediction" });
        head.textContent = typeof prediction === "number" ? prediction.toLocaleString(undefined, { maximumFractionDigits: 4 }) : String(prediction);
        card.appendChild(el("div", { class: "small text-body-secondary" }, body.predictions.length > 1 ? `Row ${i + 1} prediction` : "Prediction"));
        card.appendChild(head);
        if (body.probabilities) {
          const table = el("table", { class: "table table-sm mb-0" });
          Object.entries(body.probabilities[i]).sort((a, b) => b[1] - a[1]).forEach(([label, p]) => {
            const tr = el("tr");
            tr.appendChild(el("td", {}, label));
            const td = el("td", { class: "text-end mono" }, `${(p * 100).toFixed(1)} %`);
            tr.appendChild(td);
            table.appendChild(tr);
          });
          card.appendChild(table);
        }
        box.appendChild(card);
      });
    } else {
      box.appendChild(el("div", { class: "alert alert-danger mb-2", "data-testid": "test-error" }, `HTTP ${status}: ${body.detail || "error"}`));
      if (body.errors && body.errors.length) {
        const list = el("ul", { class: "small mb-0" });
        body.errors.forEach((e) => list.appendChild(el("li", {}, `row ${e.row}, column ${e.column}: ${e.message}`)));
        box.appendChild(list);
      }
    }
    box.appendChild(el("details", {}, "")).appendChild(el("pre", { class: "code mt-2 mb-0 small" }, JSON.stringify(body, null, 2)));
  }

  async function score() {
    const jsonMode = $("#mode-json").checked;
    let body;
    if (jsonMode) {
      try { body = JSON.parse($("#test-json").value); } catch (e) { showResult(400, { detail: `The JSON is not valid: ${e.message}` }, new Headers()); return; }
    } else {
      body = { data: [rowFromForm()] };
      $("#test-json").value = JSON.stringify(body, null, 2);
    }
    const deployment = $("#test-deployment").value;
    if (deployment) body.deployment = deployment;
    const button = $("#test-run");
    button.disabled = true;
    try {
      const response = await fetch($("#test-form").dataset.url, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify(body), credentials: "same-origin",
      });
      const data = await response.json().catch(() => ({ detail: "The server answered without JSON." }));
      showResult(response.status, data, response.headers);
    } finally { button.disabled = false; }
  }

  function setupTest() {
    if (!$("#test-run")) return;
    $("#test-run").addEventListener("click", score);
    $("#mode-json").addEventListener("change", () => {
      $("#test-json").value = JSON.stringify({ data: [rowFromForm()] }, null, 2);
      $("#test-json").classList.remove("d-none"); $("#test-form").classList.add("d-none");
    });
    $("#mode-form").addEventListener("change", () => {
      formFromJson();
      $("#test-json").classList.add("d-none"); $("#test-form").classList.remove("d-none");
    });
  }

  function setupCopy() {
    document.querySelectorAll("[data-copy]").forEach((button) => button.addEventListener("click", () => {
      const input = $(button.dataset.copy);
      input.select();
      navigator.clipboard && navigator.clipboard.writeText(input.value);
    }));
  }

  function setupTraffic() {
    const inputs = document.querySelectorAll(".traffic-input"), total = $("#traffic-total");
    if (!total) return;
    const update = () => {
      const sum = Array.from(inputs).reduce((s, i) => s + (parseInt(i.value, 10) || 0), 0);
      total.textContent = sum;
      total.classList.toggle("text-danger", sum !== 100);
    };
    inputs.forEach((i) => i.addEventListener("input", update));
    update();
  }

  function charts() {
    const node = document.getElementById("metrics-series");
    if (!node || typeof Plotly === "undefined") return;
    const s = JSON.parse(node.textContent);
    const x = s.minute.map((m) => new Date(m));
    const base = (title, y) => ({ title: { text: title, font: { size: 14 } }, margin: { l: 50, r: 10, t: 40, b: 40 },
      xaxis: { type: "date", tickformat: "%H:%M" }, yaxis: { title: { text: y }, rangemode: "tozero" }, legend: { orientation: "h", y: -0.25 },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff" });
    const config = { displaylogo: false, responsive: true };
    Plotly.newPlot("chart-requests", [{ x, y: s.requests, type: "bar", name: "requests", marker: { color: "#6366f1" } }],
      base("Requests per minute", "requests"), config);
    Plotly.newPlot("chart-latency", [
      { x, y: s.latency_avg_ms, mode: "lines+markers", name: "average" },
      { x, y: s.latency_p95_ms, mode: "lines+markers", name: "p95 (bucket edge)", line: { dash: "dot" } },
      { x, y: s.latency_max_ms, mode: "lines+markers", name: "max", line: { color: "#f59e0b" } }], base("Latency", "ms"), config);
    Plotly.newPlot("chart-errors", [
      { x, y: s.client_errors, type: "bar", name: "4xx", marker: { color: "#f59e0b" } },
      { x, y: s.server_errors, type: "bar", name: "5xx", marker: { color: "#dc2626" } }],
    Object.assign(base("Errors per minute", "requests"), { barmode: "stack" }), config);
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTest(); setupCopy(); setupTraffic();
    charts();
    // Plotly sizes charts in hidden tabs at zero width; redraw when the tab is shown.
    document.querySelectorAll('[data-bs-toggle="tab"]').forEach((t) => t.addEventListener("shown.bs.tab", () => {
      document.querySelectorAll(".tab-pane.active .js-plotly-plot").forEach((p) => Plotly.Plots.resize(p));
    }));
  });
})();
