"""Epsilon lower bounds from the outcomes of a membership game.

* :mod:`.multi_run`: Clopper-Pearson and the Gaussian-DP route over many runs per world,
  with honest threshold selection and the ceiling the number of trials allows;
* :mod:`.one_run`: m canaries in one run (Steinke et al. 2023; f-DP, Mahloujifar et al. 2025);
* :mod:`.gaussian_test`: the test that licenses a Gaussian-DP figure as certified.
"""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    multi_run=("EpsilonLowerBound", "clopper_pearson_upper", "clopper_pearson_bound",
               "gaussian_dp_bound", "bound_from_scores", "ceiling", "gdp_delta", "gdp_epsilon"),
    one_run=("one_run_p_value", "one_run_bound", "one_run_bound_from_scores"),
    gaussian_test=("gaussian_scores_test", "normality_test"),
))
