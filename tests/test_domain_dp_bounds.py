"""Opt-in DP bounds for the domain draft: the fences, the mechanism's choice, the receipt and
the ledger (the draft's spend is the fit's spend: the same records, whatever domain)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main
from privcausal.domain import Domain
from privcausal.domain_dp_bounds import GRID, QUANTILES, bounds_event, dp_bounds, fences
from privcausal.exceptions import DataValidationError, PrivacyLeakWarning, PrivacyParameterError
from privcausal.privacy import make_receipt


def test_fences_round_outward_onto_the_grid():
    assert fences(30.0, 70.0) == (0.0, 200.0)  # 30 - 120 < 0 raised to 0 (q1 >= 0); 190 -> 200
    assert fences(-5.0, 5.0) == (-40.0, 40.0)  # exact grid points stay
    assert fences(-12.0, -8.0) == (-25.0, 4.0)  # -12 - 12 = -24 -> -25; -8 + 12 = 4 stays
    lo, hi = fences(100.0, 120.0)
    assert lo == 40.0 and hi == 200.0 and lo in GRID and hi in GRID
    assert fences(3.0, 3.0) == (2.5, 4.0)  # one value: the neighbouring grid points
    assert fences(0.0, 0.0) == (0.0, 0.01)
    assert fences(-9e5, 9e5) == (GRID[0], GRID[-1])  # beyond the grid: its ends


def _best(v: np.ndarray, q: float) -> tuple[list[float], np.ndarray]:
    """The candidates whose rank is closest to the q-quantile's (the mechanism's best: several
    when no value lies between them), and every other candidate's extra distance in ranks."""
    dist = np.abs(np.array([np.sum(v < c) for c in GRID]) - q * len(v))
    best = dist == dist.min()
    return [GRID[i] for i in np.nonzero(best)[0]], dist[~best] - dist.min()


def test_bounds_are_the_fences_of_the_best_candidates_with_high_probability():
    # 20,000 values and epsilon 8 for two columns (2 a quartile). The exponential mechanism
    # picks a candidate c with probability at most exp(-eps (score_c - score_best) / 2) relative
    # to the best (score: rank distance, sensitivity 1); summed over the other candidates that
    # is computed below and asserted to be under 1e-9, so this test fails by chance with
    # probability below 4e-9.
    rng = np.random.default_rng(0)
    cols = {"sbp": pd.Series(rng.normal(120, 25, 20_000)), "base_excess": pd.Series(rng.normal(-4, 5, 20_000))}
    per_quartile = 8.0 / 4
    allowed = {}
    for name, col in cols.items():
        (lo_best, lo_gap), (hi_best, hi_gap) = (_best(col.to_numpy(), q) for q in QUANTILES)
        for gap in (lo_gap, hi_gap):
            assert np.sum(np.exp(-per_quartile * gap / 2)) < 1e-9
        allowed[name] = {fences(a, b) for a in lo_best for b in hi_best}
    with pytest.warns(PrivacyLeakWarning, match="spending epsilon 8"):
        got = dp_bounds(dict(cols), 8.0)
    for name in cols:
        assert got[name] in allowed[name]
    v = cols["sbp"].to_numpy()
    assert got["sbp"][0] <= v.min() and got["sbp"][1] >= v.max()  # a normal column: nothing clipped


def test_missing_values_are_left_out_and_bad_input_is_refused():
    v = pd.Series([1.0, np.nan] * 50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        assert set(dp_bounds({"x": v}, 1.0)) == {"x"}
        with pytest.raises(DataValidationError, match="column 'lab'"):
            dp_bounds({"lab": pd.Series([1.0, math.inf])}, 1.0)
    for eps in (0.0, -1.0, math.nan):
        with pytest.raises(PrivacyParameterError):
            dp_bounds({"x": v}, eps)
    with pytest.raises(DataValidationError, match="finite epsilon"):
        dp_bounds({"x": v}, math.inf)


def test_the_event_is_two_pure_releases_a_column_summing_to_epsilon():
    ev = bounds_event(3, 0.6)
    assert len(ev.parts) == 6 and all(p.epsilon == pytest.approx(0.1) and p.delta == 0 for p in ev.parts)
    r = make_receipt("bounds", [ev], noise="OpenDP")
    assert r.epsilon == pytest.approx(0.6) and r.delta == 0


def _registry(tmp_path, n=3000):
    rng = np.random.default_rng(4)
    f = pd.DataFrame({"age": rng.uniform(18, 90, n).round(1), "sbp": rng.normal(120, 25, n).round(),
                      "sex": rng.choice(["F", "M"], n), "t": rng.integers(0, 2, n), "y": rng.integers(0, 2, n)})
    p = tmp_path / "reg.csv"
    f.to_csv(p, index=False)
    return p


def test_the_command_writes_dp_bounds_and_charges_the_files_ledger(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PRIVCAUSAL_LEDGER", str(tmp_path / "ledger.sqlite"))
    csv, out = _registry(tmp_path), tmp_path / "d.toml"
    draft = ["domain", "draft", str(csv), "--treatment", "t", "--outcome", "y", "--out", str(out)]
    assert main(draft + ["--dp-bounds", "0.4"]) == 0
    err = capsys.readouterr().err
    assert "PrivacyLeakWarning" in err and "epsilon 0.4" in err
    text = out.read_text()
    assert "RELEASED with differential privacy" in text and "epsilon = 0.4" in text
    assert text.count("DP estimate (quartiles") == 2  # age and sbp; the binary outcome needs none
    dom = Domain.from_toml(out)  # numbers, not placeholders: usable as it is
    assert dom.covariates["age"].lower <= 18 and dom.covariates["age"].upper >= 90
    # the fit of the same file, with this domain: one ledger entry, the draft's spend in it
    common = [str(csv), "--treatment", "t", "--outcome", "y", "--domain", str(out)]
    assert main(["budget", "set", *common, "--epsilon", "1", "--delta", "1e-6"]) == 0
    capsys.readouterr()
    assert main(["budget", "show", *common, "--json"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["spent_epsilon"] == pytest.approx(0.4)
    # a second draft that would overspend is refused and writes nothing
    out2 = tmp_path / "d2.toml"
    assert main(draft[:-1] + [str(out2), "--dp-bounds", "0.7"]) == 2
    assert "nothing was released" in capsys.readouterr().err and not out2.exists()
    assert main(["fit", "--data", *common, "--estimator", "dim", "--epsilon", "0.5", "--json"]) == 0
    capsys.readouterr()
    assert main(["budget", "show", *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spent_epsilon"] == pytest.approx(0.9)



def test_each_quartile_measurement_meets_its_epsilon_by_opendps_own_map():
    # the calibration is OpenDP's binary search over its privacy map; check the map at the
    # neighbouring distance (one record added or removed) against each quartile's share
    from privcausal.domain_dp_bounds import _measurement

    for q in QUANTILES:
        for eps in (0.01, 0.125, 2.0):
            m = _measurement(q, eps)
            assert m.map(1) <= eps * (1 + 1e-9)
            assert m.map(1) >= 0.9 * eps  # calibrated to the budget, not far below it
