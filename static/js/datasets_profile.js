// Draws the Plotly figures of a dataset profile (each passed with json_script), also after htmx swaps.
(function () {
  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      el.dataset.drawn = "1";
      Plotly.newPlot(el, fig.data, fig.layout, {displayModeBar: false, responsive: true});
    });
  }
  function drawAll() { draw(document); }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target.parentNode || document); });
  // Charts in a hidden tab have no width; redraw them when their tab is shown.
  document.addEventListener("shown.bs.tab", function () {
    document.querySelectorAll("[data-figure][data-drawn]").forEach(function (el) { Plotly.Plots.resize(el); });
  });
  if (document.readyState !== "loading") drawAll();
})();
