"""Read-side views of runs and trials: leaderboards, Plotly figures and comparisons, built from rows.

Each function reads with a fixed number of queries whatever the number of trials, and never loads chart
data it does not draw.
"""
from __future__ import annotations

import math

from django.core.paginator import Paginator
from django.db.models import Q

from studio.experiments.models import Run, Trial, TrialStatus

LEADERBOARD_FIELDS = ("id", "number", "algorithm", "pipeline_name", "score", "duration_seconds", "status",
                      "is_ensemble", "recorded_at")
PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6", "#ec4899", "#64748b",
           "#84cc16"]
LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 340, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.2}, "font": {"size": 12}}


def list_runs(workspace, filters: dict, page: int, per_page: int = 25):
    """The workspace's runs filtered by name, status, task and dataset, one page of them."""
    runs = Run.objects.filter(workspace=workspace).select_related(
        "experiment", "dataset_version__dataset", "best_trial", "created_by").defer(
        "config", "guardrails", "featurization_summary", "validation_method")
    if filters.get("q"):
        runs = runs.filter(Q(experiment__name__icontains=filters["q"]) | Q(experiment__description__icontains=filters["q"]))
    if filters.get("status"):
        runs = runs.filter(status=filters["status"])
    if filters.get("task"):
        runs = runs.filter(task=filters["task"])
    if filters.get("dataset"):
        runs = runs.filter(dataset_version__dataset_id=filters["dataset"])
    if filters.get("experiment"):
        runs = runs.filter(experiment_id=filters["experiment"])
    key, _, value = (filters.get("tag") or "").partition("=")
    if key:
        from django.db.models.fields.json import KeyTextTransform

        runs = runs.filter(experiment__tags__has_key=key)
        if value:
            runs = runs.annotate(tag_value=KeyTextTransform(key, "experiment__tags")).filter(tag_value=value)
    runs = runs.order_by(*RUN_SORTS.get(filters.get("sort"), RUN_SORTS["newest"])[1])
    return Paginator(runs, per_page).get_page(page)


# Orders of the experiments list: (label, order_by fields).
RUN_SORTS = {"newest": ("Newest first", ("-created_at", "-id")), "oldest": ("Oldest first", ("created_at", "id")),
             "name": ("Name", ("experiment__name", "-number"))}


def _trial_rows(run: Run) -> list[dict]:
    """Every trial of the run without its JSON columns (metrics and charts are read for one page only)."""
    return list(run.trials.values(*LEADERBOARD_FIELDS))


def metric_names(run: Run) -> list[str]:
    """Metrics the run's trials report: the primary one first, then the others sorted."""
    sample = run.trials.filter(status="completed").exclude(metrics={}).values_list("metrics", flat=True).first()
    others = sorted(n for n in (sample or {}) if n != run.primary_metric)
    return [run.primary_metric] + others


def _sort_values(run: Run, metric: str) -> dict[int, float]:
    """Trial id -> value of one metric, read by the database from the JSON column."""
    from django.db.models import FloatField
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    values = run.trials.annotate(value=Cast(KeyTextTransform(metric, "metrics"), FloatField())).values_list(
        "id", "value")
    return {pk: v for pk, v in values}


def leaderboard(run: Run, sort: str | None = None, order: str | None = None, page: int = 1, per_page: int = 50,
                rows: list[dict] | None = None) -> dict:
    """Trials sorted by any metric (best first by default), ensembles ranked among the trials by their score
    (the page marks them with a badge), unscored trials last; one page of them with its metrics. Four queries
    whatever the number of trials."""
    from automl_engine.config import PRIMARY_METRICS

    rows = _trial_rows(run) if rows is None else rows
    metrics = metric_names(run)
    sort = sort if sort in metrics or sort in ("number", "duration_seconds") else run.primary_metric
    if order not in ("asc", "desc"):
        order = ("desc" if _greater(run, sort) else "asc") if sort in metrics else "asc"
    if sort == run.primary_metric:
        lookup = {r["id"]: r["score"] for r in rows}
    elif sort in ("number", "duration_seconds"):
        lookup = {r["id"]: r[sort] for r in rows}
    else:
        lookup = _sort_values(run, sort)

    def value(row):
        v = lookup.get(row["id"])
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: (value(r), -r["number"]) if order == "desc" else (value(r), r["number"]),
                 reverse=order == "desc")
    missing.sort(key=lambda r: r["number"])
    ordered = present + missing
    headline = [run.primary_metric] + [m for m in PRIMARY_METRICS.get(run.task, {}) if m != run.primary_metric]
    shown = [m for m in headline if m in metrics] or metrics[:5]
    if sort in metrics and sort not in shown:
        shown.append(sort)
    page_obj = Paginator(ordered, per_page).get_page(page)
    details = {d["id"]: d for d in run.trials.filter(pk__in=[r["id"] for r in page_obj]).values("id", "metrics",
                                                                                                  "error")}
    start = page_obj.start_index()
    for offset, row in enumerate(page_obj):
        row["rank"] = start + offset
        row["is_best"] = row["id"] == run.best_trial_id
        detail = details.get(row["id"], {})
        row["error"] = detail.get("error", "")
        row["cells"] = [(m, (detail.get("metrics") or {}).get(m)) for m in shown]
    return {"page": page_obj, "metrics": metrics, "shown": shown, "sort": sort, "order": order,
            "count": len(rows)}


def _greater(run: Run, metric: str) -> bool:
    from automl_engine.config import PRIMARY_METRICS

    known = PRIMARY_METRICS.get(run.task, {})
    if metric in known:
        return known[metric]
    lower_is_better = ("error", "loss", "log_loss")
    return not any(metric.endswith(s) or s in metric for s in lower_is_better)


def best_score_figure(run: Run, rows: list[dict]) -> dict:
    """Each trial's score and the best so far over time since the run started (Plotly figure)."""
    started = run.started_at
    points = sorted((r for r in rows if r["score"] is not None and not r["is_ensemble"]),
                    key=lambda r: r["recorded_at"])
    x, y, best_x, best_y, labels = [], [], [], [], []
    best = None
    for r in points:
        t = round((r["recorded_at"] - started).total_seconds(), 1) if started else r["number"]
        x.append(t)
        y.append(r["score"])
        labels.append(f"trial {r['number']}: {r['pipeline_name']}")
        if best is None or (r["score"] > best if run.greater_is_better else r["score"] < best):
            best = r["score"]
        best_x.append(t)
        best_y.append(best)
    return {
        "data": [
            {"type": "scatter", "mode": "markers", "x": x, "y": y, "text": labels, "name": "trial score",
             "marker": {"color": "#a5b4fc", "size": 7}, "hovertemplate": "%{text}<br>%{y:.4f}<extra></extra>"},
            {"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": "#4f46e5", "width": 3},
             "x": best_x, "y": best_y, "name": "best so far", "hovertemplate": "best %{y:.4f}<extra></extra>"},
        ],
        "layout": {**LAYOUT, "height": 230, "margin": {"l": 55, "r": 10, "t": 10, "b": 40},
                   "showlegend": False, "xaxis": {"title": {"text": "seconds since the run started"}, "automargin": True},
                   "yaxis": {"title": {"text": run.primary_metric}, "automargin": True}},
    }


def run_summary(run: Run) -> dict:
    """Everything the live part of the run page draws: progress, leaderboard page and the best-score chart."""
    rows = _trial_rows(run)
    # Only a trial's own error or time limit is its failure; trials the run stopped (cancel, budget) are not.
    failed = sum(1 for r in rows if r["status"] in (TrialStatus.FAILED, TrialStatus.TIMED_OUT))
    stopped = sum(1 for r in rows if r["status"] in (TrialStatus.CANCELED, TrialStatus.CUT_BY_BUDGET))
    return {"rows": rows, "failed": failed, "stopped": stopped, "figure": best_score_figure(run, rows)}


def search_history(run: Run) -> dict:
    """Optuna-dashboard-like views of the search: score per trial, parameter importance, parallel coordinates."""
    trials = list(run.trials.filter(is_ensemble=False).values("number", "algorithm", "score", "hyperparameters",
                                                               "status"))
    scored = [t for t in trials if t["score"] is not None]
    algorithms = sorted({t["algorithm"] for t in scored})
    color = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(algorithms)}
    history = {
        "data": [{"type": "scatter", "mode": "markers", "name": a,
                  "x": [t["number"] for t in scored if t["algorithm"] == a],
                  "y": [t["score"] for t in scored if t["algorithm"] == a],
                  "marker": {"color": color[a], "size": 8}} for a in algorithms],
        "layout": {**LAYOUT, "xaxis": {"title": {"text": "trial"}, "tickformat": "d", "rangemode": "tozero"},
                   "yaxis": {"title": {"text": run.primary_metric}}},
    }
    params = _param_table(scored)
    importance = _param_importance(params, [t["score"] for t in scored])
    parallel = None
    if len(scored) >= 2:
        top = [name for name, _ in importance[:6]]
        dims = []
        algo_index = {a: i for i, a in enumerate(algorithms)}
        dims.append({"label": "algorithm", "values": [algo_index[t["algorithm"]] for t in scored],
                     "tickvals": list(range(len(algorithms))), "ticktext": algorithms})
        for name in top:
            if name == "algorithm":
                continue
            label = name.split(".", 1)[1] if len(algorithms) == 1 else name
            column = params[name]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
                dims.append({"label": label, "values": column})
            else:  # a parameter of one algorithm only is "n/a" for the others: show it as categories
                labels = [_label(v) for v in column]
                cats = sorted(set(labels), key=lambda c: (c == "n/a", c))
                dims.append({"label": label, "values": [cats.index(c) for c in labels],
                             "tickvals": list(range(len(cats))), "ticktext": cats})
        dims.append({"label": run.primary_metric, "values": [t["score"] for t in scored]})
        parallel = {"data": [{"type": "parcoords", "dimensions": dims, "labelangle": -20, "labelside": "top",
                              "line": {"color": [t["score"] for t in scored], "colorscale": "Viridis",
                                       "showscale": True, "reversescale": not run.greater_is_better}}],
                    "layout": {**LAYOUT, "height": 440, "margin": {"l": 90, "r": 60, "t": 110, "b": 30}}}
    importance_figure = None
    if importance:
        shown = importance[:15][::-1]
        importance_figure = {"data": [{"type": "bar", "orientation": "h", "x": [round(v, 4) for _, v in shown],
                                       "y": [n for n, _ in shown], "marker": {"color": "#4f46e5"}}],
                             "layout": {**LAYOUT, "height": max(240, 28 * len(shown) + 80),
                                        "margin": {"l": 220, "r": 20, "t": 20, "b": 40},
                                        "xaxis": {"title": {"text": "importance for the score"}}}}
    readable_axes(history)
    if importance_figure:
        readable_axes(importance_figure)
    return {"history": history, "importance": importance_figure, "parallel": parallel, "n_scored": len(scored),
            "n_trials": len(trials)}


def _label(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _param_table(trials: list[dict]) -> dict[str, list]:
    """Column per hyperparameter (``Algorithm.param``) plus ``algorithm``, None where a trial lacks it."""
    names = []
    for t in trials:
        for key in t["hyperparameters"] or {}:
            name = f"{t['algorithm']}.{key}"
            if name not in names:
                names.append(name)
    table = {"algorithm": [t["algorithm"] for t in trials]}
    for name in names:
        algo, _, key = name.partition(".")
        table[name] = [(t["hyperparameters"] or {}).get(key) if t["algorithm"] == algo else None for t in trials]
    return table


def _param_importance(params: dict[str, list], scores: list[float]) -> list[tuple[str, float]]:
    """How much each parameter explains the score: a random forest on the parameters (as Optuna's
    ``MeanDecreaseImpurityImportanceEvaluator`` does), normalised to sum to 1."""
    if len(scores) < 3:
        return []
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    columns, names = [], []
    for name, values in params.items():
        present = [v for v in values if v is not None]
        if not present or len({str(v) for v in present}) < 2:
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            columns.append([float(v) if v is not None else -1.0 for v in values])
        else:
            cats = sorted({str(v) for v in values})
            columns.append([float(cats.index(str(v))) for v in values])
        names.append(name)
    if not columns:
        return []
    X = np.array(columns).T
    forest = RandomForestRegressor(n_estimators=32, max_depth=6, random_state=0, n_jobs=1)
    forest.fit(X, np.array(scores))
    pairs = sorted(zip(names, forest.feature_importances_.tolist()), key=lambda p: -p[1])
    return [(n, float(v)) for n, v in pairs if v > 0]


# --------------------------------------------------------------------------------------------------
# Trial charts


def _heatmap(matrix, labels, title, normalised: bool) -> dict:
    text = [[f"{v:.2f}" if normalised else f"{v:,}" for v in row] for row in matrix]
    return {"data": [{"type": "heatmap", "z": matrix, "x": [str(l) for l in labels], "y": [str(l) for l in labels],
                      "text": text, "texttemplate": "%{text}", "colorscale": [[0, "#f5f7ff"], [1, "#6366f1"]], "showscale": False,
                      "textfont": {"size": 14},
                      "hovertemplate": "true %{y}, predicted %{x}: %{text}<extra></extra>"}],
            "layout": {**LAYOUT, "title": {"text": title},
                       "xaxis": {"title": {"text": "predicted"}, "type": "category"},
                       "yaxis": {"title": {"text": "true"}, "autorange": "reversed", "type": "category"}}}


def _lines(series: dict, x_key: str, y_key: str, title: str, x_title: str, y_title: str,
           diagonal: bool = False, baseline: float | None = None, summary=None, diagonal_name: str = "chance",
           baseline_name: str = "random", from_origin: bool = False) -> dict:
    """One line per class; ``summary(points)`` adds a figure such as the AUC to each class's name, and
    ``from_origin`` starts every line at (0, 0) (cumulative gains: no data, no positives)."""
    data = []
    for i, (label, points) in enumerate(series.items()):
        x, y = list(points[x_key]), list(points[y_key])
        if from_origin and x and (x[0], y[0]) != (0, 0):
            x, y = [0] + x, [0] + y
        name = f"class {label}" + (f" ({summary(points)})" if summary else "")
        data.append({"type": "scatter", "mode": "lines+markers" if len(x) <= 12 else "lines",
                     "name": name, "x": x, "y": y, "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}})
    if diagonal:
        data.append({"type": "scatter", "mode": "lines", "name": diagonal_name, "x": [0, 1], "y": [0, 1],
                     "line": {"dash": "dash", "color": "#9ca3af"}})
    if baseline is not None:
        xs = next(iter(series.values()))[x_key] if series else [0, 1]
        data.append({"type": "scatter", "mode": "lines", "name": baseline_name, "x": [min(xs + [0]), max(xs)],
                     "y": [baseline, baseline], "line": {"dash": "dash", "color": "#9ca3af"}})
    return {"data": data, "layout": {**LAYOUT, "title": {"text": title}, "xaxis": {"title": {"text": x_title}},
                                     "yaxis": {"title": {"text": y_title}}}}


def _area_under_roc(points: dict) -> str:
    """AUC of the drawn ROC points (trapezoids), as a label."""
    fpr, tpr = points["fpr"], points["tpr"]
    area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    return f"AUC {area:.3f}"


def _average_precision(points: dict) -> str:
    """Average precision of the drawn precision-recall points (step-wise, as scikit-learn sums it)."""
    recall, precision = points["recall"], points["precision"]
    ap = sum(abs(recall[i] - recall[i + 1]) * precision[i] for i in range(len(recall) - 1))
    return f"AP {ap:.3f}"


def _positive_share(confusion: dict | None, label: str) -> float | None:
    """Share of rows whose true class is ``label`` (the precision of guessing), from the confusion matrix."""
    if not confusion or not confusion.get("matrix"):
        return None
    labels = [str(l) for l in confusion["labels"]]
    total = sum(map(sum, confusion["matrix"]))
    return round(sum(confusion["matrix"][labels.index(label)]) / total, 4) if label in labels and total else None


def trial_figures(task: str, charts: dict | None, prefix: str = "fig") -> list[dict]:
    """The per-task charts of a trial as ``{"key", "id", "title", "figure"}``; empty without chart data."""
    out = _trial_figures(task, charts or {})
    for f in out:
        f["id"] = f"{prefix}-{f['key']}"
        readable_axes(f["figure"])
    return out


def ensemble_members(trial: Trial) -> list[dict]:
    """An ensemble's members as ``{"trial", "weight"}`` (weight None for a stack's members), in its order."""
    params = trial.hyperparameters or {}
    if not trial.is_ensemble or not params.get("members"):
        return []
    numbers = list(params["members"])
    weights = params.get("weights") or [None] * len(numbers)
    by_number = {t.number: t for t in trial.run.trials.filter(number__in=numbers).only("id", "number",
                                                                                       "pipeline_name", "score")}
    return [{"trial": by_number.get(n), "number": n, "weight": w} for n, w in zip(numbers, weights)]


def readable_axes(figure: dict) -> dict:
    """Let Plotly grow the margins to fit tick labels and axis titles (long class names, large numbers), so
    no title is cut off or drawn over the ticks, and keep the legend below the x-axis title."""
    layout = figure.setdefault("layout", {})
    for axis in ("xaxis", "yaxis"):
        layout.setdefault(axis, {})["automargin"] = True
    if layout.get("showlegend", True):
        layout["legend"] = {**layout.get("legend", {}), "orientation": "h", "yanchor": "top", "y": -0.28}
        layout["margin"] = {**layout.get("margin", LAYOUT["margin"]), "b": 90}
    return figure


def _trial_figures(task: str, charts: dict) -> list[dict]:
    if task == "forecasting":
        from studio.experiments.forecast_reports import trial_figures as forecast_figures

        return forecast_figures(charts)
    out = []
    if task == "classification":
        cm = charts.get("confusion_matrix")
        if cm and cm.get("matrix"):
            matrix = cm["matrix"]
            out.append({"key": "confusion", "title": "Confusion matrix", "figure": _heatmap(
                matrix, cm["labels"], "Confusion matrix (counts)", False)})
            normalised = [[round(v / sum(row), 4) if sum(row) else 0.0 for v in row] for row in matrix]
            out.append({"key": "confusion_normalised", "title": "Confusion matrix, normalised", "figure": _heatmap(
                normalised, cm["labels"], "Confusion matrix (share of each true class)", True)})
        if charts.get("roc"):
            out.append({"key": "roc", "title": "ROC", "figure": _lines(
                charts["roc"], "fpr", "tpr", "ROC curve", "false positive rate", "true positive rate", diagonal=True,
                summary=_area_under_roc, diagonal_name="chance (AUC 0.5)")})
        if charts.get("precision_recall"):
            pr = charts["precision_recall"]
            # Guessing scores the share of positives at every recall; shown when there is one positive class.
            chance = _positive_share(cm, next(iter(pr))) if len(pr) == 1 else None
            out.append({"key": "precision_recall", "title": "Precision-recall", "figure": _lines(
                pr, "recall", "precision", "Precision-recall curve", "recall", "precision", summary=_average_precision,
                baseline=chance, baseline_name=f"chance (share of positives {chance:.3f})" if chance else "")})
        if charts.get("calibration"):
            out.append({"key": "calibration", "title": "Calibration", "figure": _lines(
                charts["calibration"], "mean_predicted", "fraction_positive", "Calibration curve",
                "mean predicted probability", "fraction of positives", diagonal=True)})
        if charts.get("lift"):
            out.append({"key": "lift", "title": "Lift", "figure": _lines(
                charts["lift"], "percent_of_data", "lift", "Lift curve", "share of data (best scored first)", "lift",
                baseline=1.0)})
        if charts.get("gains"):
            out.append({"key": "gains", "title": "Cumulative gains", "figure": _lines(
                charts["gains"], "percent_of_data", "percent_of_positives", "Cumulative gains",
                "share of data (best scored first)", "share of positives found", diagonal=True, from_origin=True)})
    else:
        pvt = charts.get("predicted_vs_true")
        if pvt and pvt.get("bin_true_mean"):
            x = pvt["bin_true_mean"]
            lo, hi = min(x + pvt["predicted_p10"]), max(x + pvt["predicted_p90"])
            out.append({"key": "predicted_vs_true", "title": "Predicted vs true", "figure": {
                "data": [
                    {"type": "scatter", "mode": "lines", "x": x, "y": pvt["predicted_p90"], "name": "90th percentile",
                     "line": {"width": 0}, "showlegend": False},
                    {"type": "scatter", "mode": "lines", "x": x, "y": pvt["predicted_p10"], "fill": "tonexty",
                     "fillcolor": "rgba(79,70,229,0.15)", "line": {"width": 0}, "name": "10th-90th percentile"},
                    {"type": "scatter", "mode": "lines+markers", "x": x, "y": pvt["predicted_mean"],
                     "name": "mean prediction", "line": {"color": "#4f46e5", "width": 2}},
                    {"type": "scatter", "mode": "lines", "x": [lo, hi], "y": [lo, hi], "name": "ideal",
                     "line": {"dash": "dash", "color": "#9ca3af"}}],
                "layout": {**LAYOUT, "title": {"text": "Predicted vs true (binned by true value)"},
                           "xaxis": {"title": {"text": "true value"}}, "yaxis": {"title": {"text": "predicted"}}}}})
        res = charts.get("residuals")
        if res and res.get("counts"):
            edges = res["bin_edges"]
            centers = [round((a + b) / 2, 6) for a, b in zip(edges[:-1], edges[1:])]
            out.append({"key": "residuals", "title": "Residuals", "figure": {
                "data": [{"type": "bar", "x": centers, "y": res["counts"], "marker": {"color": "#4f46e5"},
                          "name": "trials"}],
                "layout": {**LAYOUT, "title": {"text": "Residual histogram (true − predicted)"}, "bargap": 0.05,
                           "xaxis": {"title": {"text": "residual"}}, "yaxis": {"title": {"text": "rows"}}}}})
    return out


def importance_figure(importance: dict | None, kind: str = "raw") -> dict | None:
    """Horizontal bars of feature importance (``raw`` columns or ``engineered`` features), top 20."""
    if not importance or not importance.get(kind):
        return None
    items = list(importance[kind].items())[:20][::-1]
    return {"data": [{"type": "bar", "orientation": "h", "x": [round(v, 4) for _, v in items],
                      "y": [k for k, _ in items], "marker": {"color": "#0ea5e9"}}],
            "layout": {**LAYOUT, "height": max(240, 24 * len(items) + 80),
                       "margin": {"l": 200, "r": 20, "t": 20, "b": 40},
                       "xaxis": {"title": {"text": f"share of importance ({importance.get('method', '')})"}}}}


def compare(trials: list[Trial], only_differences: bool) -> list[dict]:
    """Rows of a side-by-side comparison: a section, a label and one value per trial."""
    rows = []

    def add(section, label, values):
        same = len({repr(v) for v in values}) <= 1
        if only_differences and same:
            return
        rows.append({"section": section, "label": label, "values": values, "differs": not same})

    add("Trial", "pipeline", [t.pipeline_name for t in trials])
    add("Trial", "status", [t.get_status_display() for t in trials])
    add("Trial", "duration (s)", [round(t.duration_seconds, 2) for t in trials])
    add("Trial", "featurization", [t.featurization for t in trials])
    metrics = sorted({m for t in trials for m in (t.metrics or {})})
    for m in metrics:
        add("Validation metrics", m, [(t.metrics or {}).get(m) for t in trials])
    tests = sorted({m for t in trials for m in (t.test_metrics or {})})
    for m in tests:
        add("Test metrics", m, [(t.test_metrics or {}).get(m) for t in trials])
    params = sorted({p for t in trials for p in (t.hyperparameters or {})})
    for p in params:
        add("Hyperparameters", p, [(t.hyperparameters or {}).get(p, "—") for t in trials])
    return rows
