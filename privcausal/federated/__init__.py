"""Multi-site private ATE: each hospital keeps its records, the consortium gets one estimate.

=====================  ======================================================================
``site``               what a site computes and releases with its own noise (per-site DP)
``combine``            the server: sums of the releases, the estimate, the bootstrap interval
``rounds``             IPW / AIPW: each round's release at a site, the plan, one answer a round
``protocol``           IPW / AIPW: the server drives the rounds, fits the models, estimates
``meta``               the baseline: inverse-variance and DerSimonian-Laird meta-analysis
``secure``             secure aggregation: threat model, noise shares (DDG bound), exact limbs
``secure_site``        a site's share for SecAgg+, the server's decoded sum
``flower_secure``      the check round and Flower's SecAgg+ workflow on the server
``consortium_secure``  :func:`federate` with ``secure=True``
``flower_app``         the Flower ClientApp (a site) and ServerApp (the consortium)
``flower_rounds``      the rounds of IPW / AIPW as Flower messages (site state per run)
``flower_common``      what the two apps share (message type, a site's records, waiting)
``grpc_run``           a real SuperLink and one SuperNode per site on 127.0.0.1
``simulation``         Flower's simulation engine as a transport
``consortium``         :func:`federate`: split, run over a transport, baselines beside
``consortium_rounds``  the same for IPW / AIPW
``result``             :class:`FederatedResult`
=====================  ======================================================================

Flower is imported only when a Flower transport runs.
"""

from privcausal.federated.combine import FederatedEstimate, combine_releases
from privcausal.federated.consortium import TRANSPORTS, FederatedResult, federate, split_sites
from privcausal.federated.meta import MetaAnalysis, meta_analysis
from privcausal.federated.rounds import ROUND_METHODS, RoundPlan, SiteSession, round_plan
from privcausal.federated.site import METHODS, SiteRelease, release_plan, site_release

__all__ = ["federate", "FederatedResult", "FederatedEstimate", "combine_releases", "site_release",
           "SiteRelease", "release_plan", "meta_analysis", "MetaAnalysis", "split_sites", "METHODS",
           "TRANSPORTS", "ROUND_METHODS", "RoundPlan", "SiteSession", "round_plan"]
