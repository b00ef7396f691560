"""Plotly figures (plain dicts, passed to the page with ``json_script``) for a dataset profile."""

ACCENT = "#4f46e5"
_LAYOUT = {"margin": {"l": 40, "r": 10, "t": 10, "b": 30}, "height": 180, "bargap": 0.05,
           "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
           "xaxis": {"automargin": True}, "yaxis": {"automargin": True, "title": {"text": "rows"}}}


def _histogram_figure(hist: dict, label: str) -> dict:
    edges, counts = hist["edges"], hist["counts"]
    if len(counts) == 1:
        return {"data": [{"type": "bar", "x": [str(edges[0])], "y": counts, "marker": {"color": ACCENT}}],
                "layout": _LAYOUT}
    centres = edges[:-1]
    if isinstance(edges[0], str):
        hover = [f"{a} – {b}<br>{c:,} rows" for a, b, c in zip(edges[:-1], edges[1:], counts)]
    else:
        hover = [f"{a:,.4g} – {b:,.4g}<br>{c:,} rows" for a, b, c in zip(edges[:-1], edges[1:], counts)]
    return {"data": [{"type": "bar", "x": centres, "y": counts, "marker": {"color": ACCENT}, "hovertext": hover,
                      "hoverinfo": "text", "offset": 0,
                      **({} if isinstance(edges[0], str) else {"width": [b - a for a, b in zip(edges[:-1], edges[1:])]})}],
            "layout": {**_LAYOUT, "xaxis": {"automargin": True, "title": {"text": label}}}}


def column_figure(column: dict) -> dict | None:
    """A histogram for numbers and dates, a bar chart of the most frequent values for categories."""
    top = column.get("top_values")
    if column.get("type") in ("categorical", "boolean") and top:
        values = list(reversed(top))
        return {"data": [{"type": "bar", "orientation": "h", "y": [v["value"] for v in values],
                          "x": [v["count"] for v in values], "marker": {"color": ACCENT},
                          "hovertext": [f"{v['value']}: {v['count']:,} rows ({v['percent']}%)" for v in values],
                          "hoverinfo": "text"}],
                "layout": {**_LAYOUT, "height": max(140, 24 * len(values) + 40),
                           "yaxis": {"automargin": True, "type": "category"},
                           "xaxis": {"automargin": True, "title": {"text": "rows"}}}}
    if column.get("histogram"):
        return _histogram_figure(column["histogram"], column["name"])
    if column.get("length_histogram"):
        return _histogram_figure(column["length_histogram"], "length (characters)")
    if top:
        values = list(reversed(top))
        return {"data": [{"type": "bar", "orientation": "h", "y": [v["value"] for v in values],
                          "x": [v["count"] for v in values], "marker": {"color": ACCENT}}],
                "layout": {**_LAYOUT, "yaxis": {"automargin": True, "type": "category"}}}
    return None


def correlation_figure(correlation: dict | None, numeric: set[str] | None = None) -> dict | None:
    """A heatmap of Pearson correlations between numeric columns, annotated with the values; ``numeric``
    keeps only the columns the schema types numeric now (a schema edit may have changed some)."""
    if not correlation:
        return None
    names, matrix = correlation["columns"], correlation["matrix"]
    if numeric is not None:
        keep = [i for i, n in enumerate(names) if n in numeric]
        if len(keep) < 2:
            return None
        names, matrix = [names[i] for i in keep], [[matrix[i][j] for j in keep] for i in keep]
    size = max(360, 40 * len(names) + 160)
    return {"data": [{"type": "heatmap", "x": names, "y": names, "z": matrix, "zmin": -1, "zmax": 1,
                      "colorscale": "RdBu", "reversescale": True,
                      "text": [[("" if v is None else f"{v:.2f}") for v in row] for row in matrix],
                      "texttemplate": "%{text}" if len(names) <= 12 else "",
                      "hovertemplate": "%{y} × %{x}: %{z:.3f}<extra></extra>"}],
            "layout": {"height": size, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                       "xaxis": {"automargin": True, "tickangle": -45}, "yaxis": {"automargin": True, "autorange": "reversed"},
                       "paper_bgcolor": "rgba(0,0,0,0)"}}
