"""Run-level bounds with the Gaussian-DP figure licensed by a test, or demoted to an estimate.

:func:`licensed_bound` is how every multi-run audit turns scores into its certified bound:

* ``method="clopper-pearson"``: the Clopper-Pearson bound at ``alpha``; nothing assumed.
* ``method="gaussian-dp"``: the scores (or a monotone transform of them that the audit names,
  ``view``: threshold tests, and so the trade-off curve, do not change under it) are tested for
  a Gaussian shift at ``level`` (:func:`~audits.bounds.gaussian_test.gaussian_scores_test`). If
  they pass, the Gaussian-DP bound at ``alpha - level`` is certified: when the scores are a
  Gaussian shift the reported bound is then wrong with probability at most
  ``(alpha - level) + level = alpha``. If they fail, the certified bound is Clopper-Pearson at
  ``alpha`` and the Gaussian figure is returned as an estimate with the assumption it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from audits.bounds.gaussian_test import gaussian_scores_test
from audits.bounds.multi_run import EpsilonLowerBound, bound_from_scores
from audits.result import AssumptionTest

__all__ = ["LicensedBound", "licensed_bound", "licensed_one_run", "logit_of_loss",
           "GDP_ESTIMATE_ASSUMPTION"]

GDP_ESTIMATE_ASSUMPTION = ("the trade-off curve is Gaussian (mu-GDP), which the Gaussian-shift "
                           "test on these scores rejected")


@dataclass(frozen=True)
class LicensedBound:
    """The certified bound, the Gaussian figure when it was refused, and the test."""

    certified: EpsilonLowerBound
    estimate: EpsilonLowerBound | None
    test: AssumptionTest | None

    @property
    def tests(self) -> tuple[AssumptionTest, ...]:
        return () if self.test is None else (self.test,)

    @property
    def assumption(self) -> str:
        a = self.certified.assumption
        if self.test is not None and self.test.passed:
            return a + "; licensed by the Gaussian-shift test of the scores"
        if self.estimate is not None:
            return a + "; the Gaussian-DP figure was refused (scores not a Gaussian shift)"
        return a


def licensed_bound(s_in: Any, s_out: Any, *, delta: float, alpha: float, method: str,
                   view: Callable[[np.ndarray], np.ndarray] | None = None,
                   level: float | None = None, what: str = "the run scores",
                   **kw: Any) -> LicensedBound:
    """The certified run-level bound of ``method`` (module docstring); ``kw`` goes to
    :func:`~audits.bounds.multi_run.bound_from_scores`."""
    if method != "gaussian-dp":
        return LicensedBound(bound_from_scores(s_in, s_out, delta=delta, alpha=alpha,
                                               method=method, **kw), None, None)
    level = alpha / 5.0 if level is None else float(level)
    f = view or (lambda x: x)
    a, b = np.asarray(s_in, dtype=np.float64), np.asarray(s_out, dtype=np.float64)
    test = gaussian_scores_test(f(a), f(b), level=level, what=what)
    if test.passed:
        return LicensedBound(bound_from_scores(a, b, delta=delta, alpha=alpha - level,
                                               method=method, **kw), None, test)
    cp = bound_from_scores(a, b, delta=delta, alpha=alpha, method="clopper-pearson", **kw)
    gdp = bound_from_scores(a, b, delta=delta, alpha=alpha, method=method, **kw)
    return LicensedBound(cp, gdp, test)


def licensed_one_run(scores: Any, included: Any, *, k_plus: Any, k_minus: Any, delta: float,
                     alpha: float, method: str, view: Callable[[np.ndarray], np.ndarray] | None = None,
                     level: float | None = None) -> LicensedBound:
    """The certified one-run bound: Steinke et al. (assumption-free), or the f-DP bound when the
    canaries' scores (included against excluded, through ``view``) pass the Gaussian-shift test;
    a refused f-DP figure becomes the estimate beside the Steinke bound."""
    from audits.bounds.one_run import one_run_bound_from_scores

    s = np.asarray(scores, dtype=np.float64)
    inc = np.asarray(included).astype(int)
    kw = dict(k_plus=k_plus, k_minus=k_minus, delta=delta)
    if method == "steinke":
        return LicensedBound(one_run_bound_from_scores(s, inc, alpha=alpha, method="steinke", **kw),
                             None, None)
    level = alpha / 5.0 if level is None else float(level)
    f = view or (lambda x: x)
    test = gaussian_scores_test(f(s[inc == 1]), f(s[inc == 0]), level=level,
                                what="the canaries' scores (included against excluded)")
    if test.passed:
        return LicensedBound(one_run_bound_from_scores(s, inc, alpha=alpha - level, method=method,
                                                       **kw), None, test)
    return LicensedBound(one_run_bound_from_scores(s, inc, alpha=alpha, method="steinke", **kw),
                         one_run_bound_from_scores(s, inc, alpha=alpha, method=method, **kw), test)


def logit_of_loss(score: Any) -> np.ndarray:
    """The logit towards the label from minus a binary cross-entropy loss: a monotone transform
    of a loss score (so the same threshold tests, the same trade-off curve) that is Gaussian when
    the model's weights are, for the Gaussian-shift test."""
    loss = np.maximum(-np.asarray(score, dtype=np.float64), 1e-300)
    return -np.log(np.expm1(loss))
