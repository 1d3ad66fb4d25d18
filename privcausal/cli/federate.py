"""``privcausal federate``: a multi-site private ATE on Flower (:func:`privcausal.federated.federate`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from privcausal.cli._common import RAW, add_data_args, load_data_spec

__all__ = ["add_parser", "run", "FEDERATE_EXAMPLES"]

FEDERATE_EXAMPLES = """\
examples:
  privcausal federate --data trauma --n 20000 --sites 8 --estimator regression --epsilon 1 --json
  privcausal federate --data trauma --sites 40 --estimator dim --epsilon 0.5 --transport local
  privcausal federate --data trauma --sites 8 --estimator regression --transport grpc --json
  privcausal federate --data trauma --n 20000 --sites 8 --estimator aipw --epsilon 4 --transport local
  privcausal federate --data trauma --n 20000 --sites 40 --estimator regression --secure-aggregation \\
      --collusion 2 --min-sites 36 --transport simulation --json
  privcausal federate --data trauma --n 20000 --sites 8 --estimator aipw --secure-aggregation \
      --collusion 1 --transport local --json
  privcausal federate --data registry.csv --treatment txa --outcome death --domain registry.toml \\
      --site-column hospital --estimator regression --epsilon 1

Each site computes its own statistics and adds its own noise: its release is (epsilon,
delta)-DP for its own records (add/remove one record of that site), whatever the server does.
The server sums the releases (one shot) and post-processes them; the interval is a parametric
bootstrap over every site's noise. ipw and aipw run several rounds: a propensity model fitted by
damped Newton steps on the sites' noisy gradient and curvature sums (--rounds), then one round
of noisy score sums; each site answers each round once, within its epsilon. Beside it, the same run reports the pooled central private
estimate and a meta-analysis of per-site private estimates (fixed and random effects).
--transport simulation: Flower's simulation engine; grpc: a real SuperLink and one SuperNode
per site on 127.0.0.1; local: the same code without Flower. A site that fails or refuses is
excluded and named (excluded_sites); the others go on.
--secure-aggregation: the sites' vectors go through Flower's SecAgg+ (ipw / aipw: every round,
one SecAgg+ run each), so the server sees only their sum; each site then adds a share of the
Gaussian noise, enough when at least --min-sites (default: all) sites' vectors are in the sum
and at most --collusion of them collude with an honest-but-curious server. The Laplace parts
(counts, sums, ipw / aipw's score sums) are exact Polya shares: h of them add up to the central
discrete Laplace. The receipt states that threat model and the fallback epsilon of one site's
shares seen alone (large: a share alone protects little); a sum with fewer sites than
--min-sites is discarded.

exit status: 0 estimate written; 2 usage or input error (or no site released anything).
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("federate", help="multi-site private ATE on Flower (each site keeps its records)",
                       epilog=FEDERATE_EXAMPLES, formatter_class=RAW)
    add_data_args(p)
    p.add_argument("--sites", type=int, default=8, help="centres of the simulated registry (default 8)")
    p.add_argument("--site-column", default="centre", help="the covariate naming the site")
    p.add_argument("--estimator", choices=("dim", "regression", "ipw", "aipw"), default="regression")
    p.add_argument("--rounds", type=int, default=6,
                   help="ipw / aipw: the propensity model's gradient rounds (default 6)")
    p.add_argument("--clip", type=float, default=0.05,
                   help="ipw / aipw: propensities clipped to [clip, 1 - clip] (default 0.05)")
    p.add_argument("--epsilon", type=float, default=1.0, help="each site's epsilon")
    p.add_argument("--delta", type=float, default=1e-6, help="each site's delta")
    p.add_argument("--transport", choices=("simulation", "grpc", "local"), default="simulation")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--n-bootstrap", type=int, default=500)
    p.add_argument("--no-baselines", action="store_true", help="skip the pooled and meta-analysis baselines")
    p.add_argument("--random-state", type=int, default=None, help="seed (experiments only: secure noise if unset)")
    p.add_argument("--secure-aggregation", action="store_true",
                   help="Flower SecAgg+ (ipw / aipw: every round); the server sees only the sums")
    p.add_argument("--collusion", type=int, default=0,
                   help="secure aggregation: sites that may collude with the server (default 0)")
    p.add_argument("--min-sites", type=int, default=None,
                   help="secure aggregation: the sum is used only with this many sites (default all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    import warnings

    from privcausal.federated import federate

    if args.data == "trauma":
        from privcausal.data import simulate_trauma

        data = simulate_trauma(args.n, random_state=args.random_state, n_centres=args.sites,
                               missing=args.missing)
    else:
        data = load_data_spec(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = federate(data, site_column=args.site_column, method=args.estimator,
                       epsilon=args.epsilon, delta=args.delta, transport=args.transport,
                       alpha=args.alpha, n_bootstrap=args.n_bootstrap, random_state=args.random_state,
                       baselines=not args.no_baselines, rounds=args.rounds, clip=args.clip,
                       secure=args.secure_aggregation, collusion=args.collusion,
                       min_sites=args.min_sites)
    d = res.to_dict()
    if args.json:
        print(json.dumps(d))
        return 0
    how = d["transport"] + (", secure aggregation" if d.get("secure_aggregation") else "")
    print(f"federated {d['estimator']} over {d['n_sites']} sites ({how}): ATE = {d['ate']:.4f} "
          f"[{d['ci_low']:.4f}, {d['ci_high']:.4f}] at epsilon {args.epsilon:g} per site")
    if d.get("secure_aggregation"):
        print(f"  threat model: {d['secure_aggregation']['threat_model']}")
    if d["pooled"]:
        p = d["pooled"]
        print(f"  pooled central: {p['ate']:.4f} [{p['ci_low']:.4f}, {p['ci_high']:.4f}]")
    if d["meta_analysis"]:
        m = d["meta_analysis"]
        print(f"  meta-analysis:  {m['ate']:.4f} [{m['ci_low']:.4f}, {m['ci_high']:.4f}] "
              f"(random effects {m['random_effects']['ate']:.4f})")
    if d["true_ate"] is not None:
        print(f"  true ATE {d['true_ate']:.4f}")
    for s, why in d["excluded_sites"].items():
        print(f"  excluded {s}: {why}")
    return 0
