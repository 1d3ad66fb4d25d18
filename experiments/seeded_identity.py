"""Seeded results before and after a refactor: one JSON line of numbers to compare.

Fits, with fixed seeds, what a structural change could move: the three DP CATE learners and two
twins (ATE, its standard error, a sum of effects, the receipt's epsilon), train_dpsgd on both
engines and train_many (sums of outputs, epsilon), and the four private ATE estimators.
Run it on two checkouts and diff the outputs::

    git worktree add /tmp/before b351bf6
    (cd /tmp/before && PYTHONPATH=/tmp/before python /path/to/experiments/seeded_identity.py) > before.json
    PYTHONPATH=. python experiments/seeded_identity.py > after.json && diff before.json after.json

It uses only calls that exist on both sides of the #14 refactor (keyword settings, not recipes).
"""

import json
import logging
import warnings

import numpy as np

warnings.simplefilter("ignore")
logging.getLogger("absl").setLevel(logging.ERROR)

from privcausal.data import simulate_trauma  # noqa: E402
from privcausal.estimators import make_estimator  # noqa: E402
from privcausal.estimators.cate import make_cate_learner  # noqa: E402
from privcausal.training import train_dpsgd, train_many  # noqa: E402


def main() -> None:
    out = {}
    d = simulate_trauma(1500, random_state=3)
    for name in ("dp-tlearner", "dp-slearner", "dp-tarnet", "tarnet", "tlearner"):
        est = make_cate_learner(name, epsilon=2.0, delta=1e-6, random_state=1, epochs=3).fit(d)
        out[name] = [est.ate_, est.ate_se_, float(np.sum(est.effect(d)[:50])), est.privacy_.epsilon]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (rng.random(400) < .5).astype(float)
    for engine in ("vectorised", "opacus"):
        r = train_dpsgd(X, y, epsilon=1.0, delta=1e-5, epochs=2, random_state=0, engine=engine)
        out[f"dpsgd-{engine}"] = [float(r.decision_function(X).sum()), r.epsilon]
    m = train_many(X, y, n_models=3, architecture="mlp", hidden=(8,), loss="bce", noise_multiplier=1.0,
                   epochs=2, random_state=0)
    out["train_many"] = [float(m.decision_function(X).sum()), m.epsilon]
    for name in ("dim", "regression", "ipw", "aipw"):
        est = make_estimator(name, epsilon=1.0, delta=1e-6, random_state=5).fit(d)
        out[name] = [est.ate_, *est.ate_interval(0.05), est.privacy_.epsilon]
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
