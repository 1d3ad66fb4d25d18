"""Privacy core: lattice mechanisms, events, accounting, budget, the ledger, receipts, noise."""

from privcausal.privacy.accounting import (
    accountant_epsilon,
    basic_composition,
    Composition,
    composed_epsilon,
    parallel,
    sequential,
)
from privcausal.privacy.budget import PrivacyBudget, split_budget
from privcausal.privacy.events import (
    NEIGHBOURING_ADD_REMOVE,
    NEIGHBOURING_REPLACE_ONE,
    NeighbouringRelation,
    PrivacyEvent,
)
from privcausal.privacy.mechanisms import (
    GaussianMechanism,
    LaplaceMechanism,
    analytic_gaussian_sigma,
    gaussian_rho,
    gaussian_sigma,
)
from privcausal.privacy.ledger import Ledger
from privcausal.privacy.random import NoiseSource, noise_source
from privcausal.privacy.receipt import Receipt, make_receipt

__all__ = [
    "accountant_epsilon",
    "basic_composition",
    "Composition",
    "composed_epsilon",
    "parallel",
    "sequential",
    "PrivacyBudget",
    "split_budget",
    "PrivacyEvent",
    "NeighbouringRelation",
    "NEIGHBOURING_ADD_REMOVE",
    "NEIGHBOURING_REPLACE_ONE",
    "GaussianMechanism",
    "LaplaceMechanism",
    "gaussian_sigma",
    "gaussian_rho",
    "analytic_gaussian_sigma",
    "Ledger",
    "NoiseSource",
    "noise_source",
    "Receipt",
    "make_receipt",
]
