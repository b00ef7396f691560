"""Decision thresholds of binary classifiers: how precision, recall, F1 and the cost of mistakes change as
the probability needed to predict the positive class moves.

The counts come from the trial's out-of-fold predictions (``oof.npy``, written next to its model by the
engine) and the targets of those predictions (:func:`automl_engine.trial.scored_targets`, read from the
run's prepared data in the same work folder): the same validation rows its metrics were computed on. The page computes the
rates and costs from the counts, so typing a cost needs no request.
"""
from __future__ import annotations

import numpy as np

# Thresholds 0.00, 0.01, ..., 1.00: fine enough to choose by eye, small enough to send with the page.
STEPS = 101


def threshold_table(trial) -> dict | None:
    """``{"positive", "negative", "thresholds", "tp", "fp", "fn", "tn", "rows"}`` for a binary classifier's
    trial (a row is predicted positive when its positive-class probability is at least the threshold), or
    ``None`` when the trial is not a binary classifier or its validation predictions are not kept."""
    from automl_engine.trial import scored_targets

    from studio.storage import storage_path

    if trial.run.task != "classification" or not trial.model_file:
        return None
    trial_dir = storage_path(trial.model_file).parent
    data_dir = trial_dir.parent.parent / "data"
    try:
        oof = np.load(trial_dir / "oof.npy", allow_pickle=False)
        y, meta = scored_targets(data_dir.parent)
    except (OSError, ValueError, KeyError):
        return None
    classes = list(meta.get("classes") or [])
    if len(classes) != 2 or oof.ndim != 2 or oof.shape != (len(y), 2):
        return None
    positive = meta.get("positive_label")
    j = classes.index(positive) if positive in classes else 1
    scored = ~np.isnan(oof).any(axis=1)
    score = oof[scored, j]
    truth = np.array([str(v) for v in y[scored]]) == str(classes[j])
    thresholds = np.round(np.linspace(0.0, 1.0, STEPS), 2)
    predicted = score[None, :] >= thresholds[:, None]
    tp = (predicted & truth).sum(axis=1)
    fp = (predicted & ~truth).sum(axis=1)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    return {"positive": classes[j], "negative": classes[1 - j], "thresholds": thresholds.tolist(),
            "tp": tp.tolist(), "fp": fp.tolist(), "fn": (positives - tp).tolist(), "tn": (negatives - fp).tolist(),
            "rows": int(scored.sum())}

