"""Data: CausalData, the simulated trauma registry, IHDP, and user tables."""

from privcausal.data.causal_data import CausalData
from privcausal.data.frame import from_frame, read_table
from privcausal.data.ihdp import ihdp_domain, load_ihdp
from privcausal.data.trauma import simulate_trauma, trauma_domain

__all__ = ["CausalData", "from_frame", "read_table", "load_ihdp", "ihdp_domain", "simulate_trauma", "trauma_domain"]
