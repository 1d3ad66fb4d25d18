"""Reconstruction robustness (ReRo): how often can any reconstruction attack succeed?

Hayes, Mahloujifar and Balle bound the success of every reconstruction attack on a DP-SGD
model, against a target drawn from a prior pi, by the power at level kappa of the test
between P = N(0, 1)^T and Q = (q N(mu, 1) + (1 - q) N(0, 1))^T, with mu = 1 / (noise
multiplier), q the sampling rate, T the steps, and kappa the prior's own success: the
chance that the best guess made without the release is a success. Without subsampling
(q = 1) the bound is Phi(Phi^-1(kappa) + mu sqrt(T)); for a mu-GDP mechanism (the Gaussian
mechanism, compositions of Gaussians) it is Phi(Phi^-1(kappa) + mu).

:func:`rero_bound_dpsgd` computes the power by Monte Carlo and states its error: the
estimate, and an upper bound valid with probability 1 - alpha (an order statistic of the
P samples that lies below the exact level-kappa threshold with probability 1 - alpha / 2,
then a Clopper-Pearson upper bound on the power of that larger rejection region at
alpha / 2). :func:`rero_bound` reads the parameters off a model or a receipt.

Success for continuous records is "within radius r": ``||x_hat - x||_2 <= r`` on the
encoded record (declared-domain scaling); :func:`estimate_kappa` gives the matching prior
success from a sample of the prior.

The bound compares D- (the known records) with D- plus the target: the add/remove
neighbouring relation of privcausal's receipts.

References
----------
.. [1] Hayes, Mahloujifar, Balle, "Bounding data reconstruction attacks with the hypothesis
   testing interpretation of differential privacy", NeurIPS 2023 (Theorem 2 and Section 4).
.. [2] Balle, Cherubin, Hayes, "Reconstructing training data with informed adversaries",
   IEEE S&P 2022.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.validation import check_alpha, check_finite_array, check_random_state

__all__ = ["ReRoBound", "KappaEstimate", "rero_bound_gaussian", "rero_bound_dpsgd", "rero_bound",
           "estimate_kappa", "within_radius", "gdp_mu_of_events", "best_guess_within_radius"]


def _kappa(kappa: float) -> float:
    k = float(kappa)
    if not 0.0 < k < 1.0:
        raise DataValidationError(f"kappa (the prior's success probability) must lie in (0, 1), got {k!r}")
    return k


def rero_bound_gaussian(kappa: float, mu: float) -> float:
    """Phi(Phi^-1(kappa) + mu): the ReRo bound of a mu-GDP mechanism (q = 1 DP-SGD: mu =
    sqrt(T) / noise multiplier)."""
    k = _kappa(kappa)
    m = float(mu)
    if not m >= 0:
        raise PrivacyParameterError("mu must be >= 0")
    return 1.0 if math.isinf(m) else float(ndtr(ndtri(k) + m))


@dataclass(frozen=True)
class ReRoBound:
    """The reconstruction-robustness bound of one release at prior success ``kappa``.

    ``estimate`` is the bound (exact for ``method='closed form'``); ``upper`` holds with
    probability at least 1 - alpha over the Monte Carlo (equal to ``estimate`` when exact).
    """

    kappa: float
    estimate: float
    upper: float
    method: str
    noise_multiplier: float | None = None
    sampling_rate: float | None = None
    steps: int | None = None
    mu: float | None = None
    n_samples: int = 0
    alpha: float = 0.0
    closed_form_without_subsampling: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _llr(x: np.ndarray, mu: float, q: float) -> np.ndarray:
    """Sum over steps of log(q exp(mu x - mu^2 / 2) + 1 - q), rows of x."""
    a = math.log(q) + mu * x - 0.5 * mu * mu
    return np.logaddexp(a, math.log1p(-q)).sum(1) if q < 1 else a.sum(1)


def _llr_samples(n: int, T: int, mu: float, q: float, rng: np.random.Generator, alt: bool) -> np.ndarray:
    out = np.empty(n)
    rows = max(1, int(4_000_000 // max(T, 1)))
    for s in range(0, n, rows):
        m = min(rows, n - s)
        x = rng.standard_normal((m, T))
        if alt:
            x += mu * (rng.random((m, T)) < q)
        out[s:s + m] = _llr(x, mu, q)
    return out


def rero_bound_dpsgd(kappa: float, noise_multiplier: float, sampling_rate: float, steps: int, *,
                     n_samples: int = 100_000, alpha: float = 0.05, random_state: Any = None
                     ) -> ReRoBound:
    """Power at level kappa of N(0,1)^T vs (q N(mu,1) + (1-q) N(0,1))^T, by Monte Carlo.

    With ``sampling_rate = 1`` the closed form is returned (exact). Otherwise ``n_samples``
    draws under each hypothesis: the estimate uses the empirical (1 - kappa)-quantile of the
    likelihood ratio under P as threshold; the upper bound is valid with probability
    1 - alpha (see the module docstring). ``closed_form_without_subsampling`` is the q = 1
    bound with the same sigma and T, for comparison (never smaller).
    """
    k = _kappa(kappa)
    sigma = float(noise_multiplier)
    q = float(sampling_rate)
    T = int(steps)
    if not 0 < q <= 1:
        raise PrivacyParameterError("the sampling rate must lie in (0, 1]")
    if T < 1:
        raise PrivacyParameterError("steps must be >= 1")
    if not sigma >= 0:
        raise PrivacyParameterError("the noise multiplier must be >= 0")
    a = check_alpha(alpha)
    mu = math.inf if sigma == 0 else 1.0 / sigma
    no_sub = rero_bound_gaussian(k, mu * math.sqrt(T))
    if q == 1.0 or sigma == 0:
        return ReRoBound(k, no_sub, no_sub, "closed form", sigma, q, T, mu,
                         closed_form_without_subsampling=no_sub)
    n = int(n_samples)
    if n * k < 10:
        raise DataValidationError(f"n_samples={n} leaves fewer than 10 samples above the level-kappa "
                                  f"threshold; use at least {math.ceil(10 / k)}")
    rng = check_random_state(random_state)
    lp = np.sort(_llr_samples(n, T, mu, q, rng, alt=False))[::-1]  # descending
    lq = _llr_samples(n, T, mu, q, rng, alt=True)
    j_hat = int(math.floor(k * n))
    tau_hat = lp[j_hat] if j_hat < n else -np.inf
    estimate = float(np.mean(lq > tau_hat))
    # with prob >= 1 - a/2 at most j samples lie above the exact threshold, so the (j+1)-th
    # largest sample is at or below it and its rejection region contains the exact one
    j = int(stats.binom.ppf(1 - a / 2, n, k))
    tau_lo = lp[j] if j < n else -np.inf
    hits = int(np.sum(lq > tau_lo))
    upper = 1.0 if hits == n else float(stats.beta.ppf(1 - a / 2, hits + 1, n - hits))
    return ReRoBound(k, estimate, max(upper, estimate), "Monte Carlo", sigma, q, T, mu, n, a,
                     closed_form_without_subsampling=no_sub)


def gdp_mu_of_events(events: Any) -> float:
    """The GDP mu of a composition of Gaussian releases (sqrt of the sum of 1 / sigma_i^2 per
    unit sensitivity); raises for events that are not Gaussian."""
    import dp_accounting

    total = 0.0

    def walk(ev: Any, times: int = 1) -> None:
        nonlocal total
        if isinstance(ev, dp_accounting.GaussianDpEvent):
            total += times * (math.inf if ev.noise_multiplier == 0 else 1.0 / ev.noise_multiplier ** 2)
        elif isinstance(ev, dp_accounting.ZCDpEvent):
            # a discrete Gaussian on a fine lattice, read as the continuous Gaussian with the
            # same rho (mu^2 = 2 rho); see rero_bound's method string
            total += times * 2.0 * ev.rho
        elif isinstance(ev, dp_accounting.SelfComposedDpEvent):
            walk(ev.event, times * ev.count)
        elif isinstance(ev, dp_accounting.ComposedDpEvent):
            for e in ev.events:
                walk(e, times)
        elif isinstance(ev, (dp_accounting.NoOpDpEvent,)):
            return
        elif isinstance(ev, dp_accounting.NonPrivateDpEvent):
            total = math.inf
        else:
            raise DataValidationError(f"no Gaussian-DP reading of a {type(ev).__name__}: the ReRo "
                                      "bound here covers Gaussian releases and DP-SGD")

    def walk_event(e: Any) -> None:  # a PrivacyEvent read back from a file (no dp_event)
        nonlocal total
        if e.parts:
            for p in e.parts:
                walk_event(p)
        elif e.mechanism.endswith("gaussian") and e.scale and e.sensitivity:
            total += (e.sensitivity / e.scale) ** 2
        elif e.mechanism == "non-private":
            total = math.inf
        else:
            raise DataValidationError(f"no Gaussian-DP reading of a {e.mechanism!r} release")

    for e in events:
        ev = getattr(e, "dp_event", e)
        if ev is None and hasattr(e, "mechanism"):
            walk_event(e)
        else:
            walk(ev)
    return math.sqrt(total)


def rero_bound(release: Any, kappa: float, **kwargs: Any) -> ReRoBound:
    """The ReRo bound of a release at prior success ``kappa``.

    ``release``: a DP-SGD model (anything with ``noise_multiplier``, ``sampling_rate`` and
    ``steps``, e.g. a TrainingResult), a Receipt, or a sequence of PrivacyEvents. A single
    DP-SGD event (``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)``) goes to
    :func:`rero_bound_dpsgd` (``kwargs``: ``n_samples``, ``alpha``, ``random_state``); a
    composition of Gaussian mechanisms gives the closed form with its GDP mu.
    """
    import dp_accounting

    if all(hasattr(release, a) for a in ("noise_multiplier", "sampling_rate", "steps")):
        return rero_bound_dpsgd(kappa, release.noise_multiplier, release.sampling_rate,
                                release.steps, **kwargs)
    events = list(getattr(release, "events", release))
    if len(events) == 1:
        ev = getattr(events[0], "dp_event", events[0])
        if isinstance(ev, dp_accounting.SelfComposedDpEvent) and isinstance(
                ev.event, dp_accounting.PoissonSampledDpEvent) and isinstance(
                ev.event.event, dp_accounting.GaussianDpEvent):
            return rero_bound_dpsgd(kappa, ev.event.event.noise_multiplier,
                                    ev.event.sampling_probability, ev.count, **kwargs)
    mu = gdp_mu_of_events(events)
    b = rero_bound_gaussian(kappa, mu)
    method = "closed form (Gaussian DP)"
    if any("discrete gaussian" in str(getattr(e, "mechanism", "")) for e in _leaves(events)):
        method += ("; discrete Gaussian releases read as continuous Gaussians with the same rho "
                   "(their trade-off curve on the 2^-20-sigma lattice is not proved Gaussian)")
    return ReRoBound(_kappa(kappa), b, b, method, mu=mu)


def _leaves(events: Any) -> list[Any]:
    out: list[Any] = []
    for e in events:
        parts = getattr(e, "parts", ())
        out.extend(_leaves(parts) if parts else [e])
    return out


def within_radius(estimate: Any, truth: Any, radius: float) -> np.ndarray:
    """Success of each reconstruction: ``||estimate_i - truth_i||_2 <= radius`` (rows)."""
    e = np.atleast_2d(np.asarray(estimate, dtype=np.float64))
    t = np.atleast_2d(np.asarray(truth, dtype=np.float64))
    if e.shape != t.shape:
        raise DataValidationError(f"estimates {e.shape} and true records {t.shape} differ in shape")
    return np.linalg.norm(e - t, axis=1) <= float(radius)


@dataclass(frozen=True)
class KappaEstimate:
    """The prior's success at radius r: the best guess chosen on one half of a prior sample,
    scored on the other half (an unbiased estimate of that guess's success, so a lower
    estimate of kappa = the sup over guesses), with a Clopper-Pearson interval at 1 - alpha."""

    kappa: float
    lower: float
    upper: float
    radius: float
    n_guesses: int
    n_eval: int


def estimate_kappa(prior_sample: Any, radius: float, *, max_guesses: int = 2000, alpha: float = 0.05,
                   random_state: Any = None) -> KappaEstimate:
    """Estimate kappa(r) = sup_g P_{x ~ prior}[||g - x|| <= r] from records drawn from the prior."""
    S = check_finite_array(prior_sample, name="prior sample", ndim=2)
    if len(S) < 20:
        raise DataValidationError("estimating kappa needs at least 20 records from the prior")
    a = check_alpha(alpha)
    rng = check_random_state(random_state)
    perm = rng.permutation(len(S))
    A, B = S[perm[: len(S) // 2]], S[perm[len(S) // 2:]]
    G = A[: int(max_guesses)]
    counts = np.zeros(len(G), dtype=np.int64)
    r2 = float(radius) ** 2
    for s in range(0, len(G), 256):
        g = G[s:s + 256]
        d2 = (g * g).sum(1)[:, None] - 2.0 * g @ A.T + (A * A).sum(1)[None, :]
        counts[s:s + 256] = (d2 <= r2 + 1e-12).sum(1)
    best = G[int(np.argmax(counts))]
    hits = int(within_radius(np.broadcast_to(best, B.shape), B, radius).sum())
    n = len(B)
    lo = 0.0 if hits == 0 else float(stats.beta.ppf(a / 2, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(stats.beta.ppf(1 - a / 2, hits + 1, n - hits))
    return KappaEstimate(hits / n, lo, hi, float(radius), len(G), n)


def best_guess_within_radius(log_likelihood: Any, candidates: Any, radius: float) -> int:
    """The Bayes-optimal guess among candidates (drawn from the prior) for "success = within
    radius r": the candidate whose r-ball holds the most posterior mass,
    ``argmax_c sum_{c' : ||c - c'|| <= r} exp(ll(c'))``. With an uninformative release it is
    the densest candidate (the prior's best guess, success about kappa); with an exact one,
    the most likely candidate."""
    ll = check_finite_array(log_likelihood, name="log-likelihoods", ndim=1)
    C = check_finite_array(candidates, name="candidates", ndim=2)
    if len(C) != ll.size:
        raise DataValidationError("one log-likelihood per candidate")
    w = np.exp(ll - ll.max())
    r2 = float(radius) ** 2
    sq = (C * C).sum(1)
    mass = np.empty(len(C))
    for s in range(0, len(C), 512):
        d2 = sq[s:s + 512, None] - 2.0 * C[s:s + 512] @ C.T + sq[None, :]
        mass[s:s + 512] = (d2 <= r2 + 1e-12) @ w
    return int(np.argmax(mass))
