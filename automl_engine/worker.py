"""Entry point of a local worker process: ``python -m automl_engine.worker``.

Reads one JSON task per line on stdin, evaluates it, writes ``{"handle", "outcome"}`` as one JSON line on
stdout. Library chatter printed to stdout is redirected to stderr so it cannot corrupt the protocol."""
from __future__ import annotations

import json
import os
import sys


def main() -> None:
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # native libraries print to fd 1 too
    sys.stdout = sys.stderr
    from automl_engine.trial import evaluate_trial

    # Warm up while the driver is still preparing data: the first trial then pays no import cost.
    import automl_engine.metrics  # noqa: F401
    import lightgbm  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import xgboost  # noqa: F401

    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        outcome = evaluate_trial(message["task"])
        protocol.write(json.dumps({"handle": message["handle"], "outcome": outcome}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
