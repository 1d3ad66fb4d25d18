import math
import warnings

import numpy as np
import pandas as pd
import pytest

from privcausal.data import CausalData, from_frame, load_ihdp, simulate_trauma
from privcausal.design import DesignEncoder
from privcausal.domain import Categorical, Domain, Numeric
from privcausal.exceptions import (
    ClippingWarning,
    DataNotFoundError,
    DataTypeError,
    DataValidationError,
    DomainError,
)

from tests.conftest import IHDP_DIR, requires_ihdp

SECRET = 987654.321  # a record value that must never appear in an error message


def small_domain(missing=False):
    return Domain(
        {"age": Numeric(0, 100, missing=missing), "sex": Categorical(("F", "M"), missing=missing)},
        (0.0, 10.0),
    )


def small_frame():
    return pd.DataFrame({"age": [30.0, 50.0, 70.0, 20.0], "sex": ["F", "M", "M", "F"]})


def make(frame=None, t=(0, 1, 0, 1), y=(1.0, 2.0, 3.0, 4.0), domain=None):
    return CausalData(small_frame() if frame is None else frame, np.array(t), np.array(y), domain or small_domain())


def test_simulate_trauma_has_truth_and_confounding():
    d = simulate_trauma(20000, random_state=0)
    assert d.n == 20000 and d.has_ground_truth
    assert -0.1 < d.true_ate < 0  # TXA lowers mortality on average
    y, t = d.outcome, d.treatment
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert naive > d.true_ate + 0.05  # confounding by severity biases the naive contrast towards harm
    assert d.true_effect.shape == (20000,)


def test_simulate_trauma_is_reproducible_and_missingness_is_declared():
    a = simulate_trauma(500, random_state=3, missing="mcar", missing_rate=0.3)
    b = simulate_trauma(500, random_state=3, missing="mcar", missing_rate=0.3)
    pd.testing.assert_frame_equal(a.covariates, b.covariates)
    assert a.covariates["sbp"].isna().mean() == pytest.approx(0.3, abs=0.07)
    assert a.domain.covariates["sbp"].missing
    X = a.X
    assert np.isfinite(X).all()
    assert np.linalg.norm(X, axis=1).max() <= a.encoder.row_norm_bound + 1e-12


def test_mnar_missingness_depends_on_severity():
    d = simulate_trauma(20000, random_state=1, missing="mnar", missing_rate=0.2)
    miss = d.covariates["hb"].isna().to_numpy()
    # sicker patients (who die more) are missing more often
    assert d.outcome[miss].mean() > d.outcome[~miss].mean()


def test_encoder_scales_from_domain_only():
    enc = DesignEncoder(small_domain(missing=True))
    X = enc.transform(pd.DataFrame({"age": [0.0, 100.0, np.nan], "sex": ["F", None, "M"]}))
    assert enc.feature_names == ["age", "age__missing", "sex=F", "sex=M", "sex__missing"]
    np.testing.assert_allclose(X[:, 0], [-1, 1, 0])
    np.testing.assert_allclose(X[:, 1], [0, 0, 1])
    np.testing.assert_allclose(X[:, 2:], [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert (np.linalg.norm(X, axis=1) <= enc.row_norm_bound + 1e-12).all()


def test_out_of_domain_values_are_clipped_and_counted_not_printed():
    f = small_frame()
    f.loc[0, "age"] = SECRET
    with pytest.warns(ClippingWarning) as rec:
        d = make(f, y=(1.0, 2.0, 3.0, 99.0))
    assert d.clipped == {"age": 1, "outcome": 1}
    assert d.covariates["age"].max() == 100 and d.outcome.max() == 10
    assert all(str(SECRET) not in str(w.message) and "99" not in str(w.message) for w in rec)


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(t=(0, 0, 0, 0)), None),  # constructs; estimators refuse one arm (below)
        (dict(t=(0, 1, 2, 1)), DataValidationError),
        (dict(y=(1.0, np.nan, 3.0, 4.0)), DataValidationError),
        (dict(y=(1.0, np.inf, 3.0, 4.0)), DataValidationError),
        (dict(y=("a", "b", "c", "d")), DataTypeError),
        (dict(t=(0, 1, 1)), DataValidationError),
    ],
)
def test_bad_treatment_and_outcome(kwargs, err):
    if err is None:
        d = make(**kwargs)
        with pytest.raises(DataValidationError, match="one treatment group"):
            d.require_both_arms()
    else:
        with pytest.raises(err) as exc:
            make(**kwargs)
        assert "nan" not in str(exc.value).lower().replace("nan)", "")  # no values echoed


def test_strings_in_numeric_column_and_undeclared_values():
    f = small_frame().astype({"age": object})
    f.loc[2, "age"] = "seventy"
    with pytest.raises(DataTypeError, match="non-numeric"):
        make(f)
    g = small_frame()
    g.loc[1, "sex"] = "X-SECRET"
    with pytest.raises(DomainError) as exc:
        make(g)
    assert "X-SECRET" not in str(exc.value)
    h = small_frame()
    h.loc[1, "age"] = np.nan
    with pytest.raises(DomainError, match="missing"):
        make(h)


def test_empty_data_and_wrong_types():
    with pytest.raises(DataValidationError, match="empty"):
        CausalData(small_frame().iloc[:0], np.array([]), np.array([]), small_domain())
    with pytest.raises(DataTypeError):
        CausalData(small_frame().to_numpy(), np.array([0, 1, 0, 1]), np.ones(4), small_domain())
    with pytest.raises(DataTypeError):
        CausalData(small_frame(), np.array([0, 1, 0, 1]), np.ones(4), {"age": (0, 1)})


def test_domain_rejects_bad_declarations():
    with pytest.raises(DomainError):
        Numeric(1, 1)
    with pytest.raises(DomainError):
        Numeric(0, math.inf)
    with pytest.raises(DomainError):
        Categorical(("only",))
    with pytest.raises(DomainError):
        Domain({"a": {"lower": 0}}, (0, 1))
    with pytest.raises(DomainError, match="no declared bounds"):
        small_domain().check_columns(pd.DataFrame({"age": [1.0], "sex": ["F"], "extra": [1]}))


def test_domain_toml_round_trip(tmp_path):
    p = tmp_path / "d.toml"
    p.write_text(
        '[outcome]\nlower = 0\nupper = 10\n\n[covariates.age]\nlower = 0\nupper = 100\nmissing = true\n\n'
        '[covariates.sex]\ncategories = ["F", "M"]\n'
    )
    d = Domain.from_toml(p)
    assert d.covariates["age"] == Numeric(0, 100, missing=True)
    assert Domain.from_dict(d.to_dict()) == d
    (tmp_path / "bad.toml").write_text("[outcome\n")
    with pytest.raises(DomainError):
        Domain.from_toml(tmp_path / "bad.toml")


def test_from_frame_csv_and_parquet(tmp_path):
    df = small_frame().assign(t=[0, 1, 0, 1], y=[1.0, 2.0, 3.0, 4.0])
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_parquet(tmp_path / "a.parquet")
    for path in (tmp_path / "a.csv", tmp_path / "a.parquet"):
        d = from_frame(path, treatment="t", outcome="y", domain=small_domain())
        assert d.n == 4 and d.n_treated == 2
    with pytest.raises(DataValidationError, match="treatment column"):
        from_frame(df, treatment="nope", outcome="y", domain=small_domain())
    with pytest.raises(DataNotFoundError):
        from_frame(tmp_path / "missing.csv", treatment="t", outcome="y", domain=small_domain())


@requires_ihdp
def test_load_ihdp_matches_published_truth():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        d = load_ihdp(1, IHDP_DIR)
    assert d.n == 747 and d.n_treated == 139
    assert d.true_ate == pytest.approx(4.016, abs=5e-4)
    naive = d.outcome[d.treatment == 1].mean() - d.outcome[d.treatment == 0].mean()
    assert naive == pytest.approx(4.021, abs=5e-4)


@requires_ihdp
def test_load_ihdp_checks_sha_and_explains_missing_file(tmp_path, monkeypatch):
    bad = tmp_path / "ihdp_npci_2.csv"
    bad.write_bytes((IHDP_DIR / "ihdp_npci_2.csv").read_bytes().replace(b"1,", b"0,", 1))
    with pytest.raises(DataValidationError, match="SHA-256"):
        load_ihdp(2, tmp_path)
    with pytest.raises(DataNotFoundError, match="PRIVCAUSAL_IHDP_DIR"):
        load_ihdp(3, tmp_path)
    monkeypatch.setenv("PRIVCAUSAL_IHDP_DIR", str(IHDP_DIR))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        assert load_ihdp(4).n == 747
    with pytest.raises(DataValidationError):
        load_ihdp(11)
