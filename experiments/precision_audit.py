"""The precision test on the old float releases and on the lattice ones, side by side.

`audit_mechanism` runs a value test and a precision test (raw IEEE-754 bits: each output's
lowest set bit and trailing zeros) at alpha/2 each; this prints the certified bound of each for:
the Laplace and Gaussian mechanisms (value 0 against 1, sensitivity 1) computed the old way
(value + scale * numpy noise, in doubles) and the new way (lattice, exact discrete noise), and
the difference in means' published statistics both ways (the old float path patched back in).

Run:  python experiments/precision_audit.py   (writes experiments/precision_audit.md)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audits.releases.estimator_audit import audit_release  # noqa: E402
from audits.releases.mechanism import audit_mechanism  # noqa: E402
from privcausal.privacy import GaussianMechanism, LaplaceMechanism, lattice, mechanisms  # noqa: E402

SAMPLES = 200_000


class Float:
    def __init__(self, kind, scale):
        self.kind, self.scale = kind, scale

    def __call__(self, d, rs):  # pragma: no cover - batch is used
        return self.batch(d, 1, rs)[0]

    def batch(self, d, n, rs):
        g = np.random.default_rng(rs)
        z = g.laplace(0.0, 1.0, n) if self.kind == "laplace" else g.standard_normal(n)
        return d + self.scale * z


class Lattice:
    def __init__(self, mech):
        self.mech = mech

    def __call__(self, d, rs):  # pragma: no cover - batch is used
        return self.mech.randomise(d, rs)

    def batch(self, d, n, rs):
        return self.mech.randomise(d, rs, dim=1, size=(n,))


def main() -> None:
    t0 = time.time()
    rows = []
    eps, delta = 1.0, 1e-6
    cases = [
        ("Laplace, float (old)", Float("laplace", 1.0 / eps), 0.0),
        ("Laplace, lattice", Lattice(LaplaceMechanism(eps, 1.0)), 0.0),
        ("Gaussian, float (old)", Float("gauss", mechanisms.analytic_gaussian_sigma(eps, delta)), delta),
        ("Gaussian, lattice", Lattice(GaussianMechanism(eps, delta, 1.0)), delta),
    ]
    for name, mech, d in cases:
        r = audit_mechanism(mech, (0.0, 1.0), epsilon=eps, delta=d, samples=SAMPLES, random_state=1)
        rows.append((name, eps, r.epsilon_lower, r.precision_lower, r.violation))

    def float_release(self, value, noise, size=()):
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), tuple(size) + np.shape(value))
        out = arr + self.scale * noise._rng.laplace(0.0, 1.0, arr.shape)
        return out if out.shape else float(out)

    saved = lattice.LatticeLaplace.release
    lattice.LatticeLaplace.release = float_release
    try:
        r = audit_release("dim", 2.0, samples=SAMPLES, random_state=3)
    finally:
        lattice.LatticeLaplace.release = saved
    rows.append(("difference in means, float (old)", 2.0, r.audit.epsilon_lower, r.audit.precision_lower, r.audit.violation))
    r = audit_release("dim", 2.0, samples=SAMPLES, random_state=3)
    rows.append(("difference in means, lattice", 2.0, r.audit.epsilon_lower, r.audit.precision_lower, r.audit.violation))
    lines = ["# The precision test on float and lattice releases", "",
             f"`python experiments/precision_audit.py` ({time.time() - t0:.0f} s). {SAMPLES} outputs per "
             "world, half to choose each test, half to bound it; value and precision tests at "
             "alpha/2 = 0.025 each (Clopper-Pearson). Mechanisms: value 0 against 1, sensitivity 1; "
             "the difference in means on its worst-case neighbours.", "",
             "| release | claimed epsilon | certified (both tests) | precision test alone | violation |",
             "|---|---|---|---|---|"]
    for name, e, lo, p, v in rows:
        lines.append(f"| {name} | {e:g} | {lo:.3f} | {p:.3f} | {'yes' if v else 'no'} |")
    (HERE / "precision_audit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
