"""EconML anchors, run in EconML's own virtual environment (not a privcausal dependency).

Reads a parquet file with columns y, t and the covariates, fits LinearDML and DRLearner with
their defaults (EconML 0.17: LinearDML with random-forest-free default first stages, DRLearner
with its default propensity and regression models), and prints one JSON line per model:
the ATE and its 95 % interval. Called by ``ate_validity.py``:

    python3 -m venv /tmp/econml-venv && /tmp/econml-venv/bin/pip install econml==0.17.0 pyarrow
    /tmp/econml-venv/bin/python experiments/econml_anchor.py data.parquet
"""

import json
import sys
import time
import warnings

import pandas as pd

warnings.simplefilter("ignore")


def main(path: str) -> None:
    from econml.dml import LinearDML
    from econml.dr import DRLearner

    df = pd.read_parquet(path)
    y = df.pop("y").to_numpy(dtype=float)
    t = df.pop("t").to_numpy(dtype=int)
    X = pd.get_dummies(df, dummy_na=False).astype(float).fillna(0.0).to_numpy()
    for name, est in (("econml-lineardml", LinearDML(discrete_treatment=True, random_state=0)),
                      ("econml-drlearner", DRLearner(random_state=0))):
        t0 = time.perf_counter()
        est.fit(y, t, X=None, W=X)
        ate = float(est.ate())
        try:
            lo, hi = (float(v) for v in est.ate_interval(alpha=0.05))
        except Exception:
            lo, hi = float("nan"), float("nan")
        print(json.dumps({"estimator": name, "ate": ate, "ci_low": lo, "ci_high": hi,
                          "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
