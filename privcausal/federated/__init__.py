"""Multi-site private ATE: each hospital keeps its records, the consortium gets one estimate.

=====================  ======================================================================
``site``               what a site computes and releases with its own noise (per-site DP)
``combine``            the server: sums of the releases, the estimate, the bootstrap interval
``meta``               the baseline: inverse-variance and DerSimonian-Laird meta-analysis
``flower_app``         the Flower ClientApp (a site) and ServerApp (the consortium)
``grpc_run``           a real SuperLink and one SuperNode per site on 127.0.0.1
``consortium``         :func:`federate`: split, run over a transport, baselines beside
=====================  ======================================================================

Flower is imported only when a Flower transport runs.
"""

from privcausal.federated.combine import FederatedEstimate, combine_releases
from privcausal.federated.consortium import TRANSPORTS, FederatedResult, federate, split_sites
from privcausal.federated.meta import MetaAnalysis, meta_analysis
from privcausal.federated.site import METHODS, SiteRelease, release_plan, site_release

__all__ = ["federate", "FederatedResult", "FederatedEstimate", "combine_releases", "site_release",
           "SiteRelease", "release_plan", "meta_analysis", "MetaAnalysis", "split_sites", "METHODS",
           "TRANSPORTS"]
