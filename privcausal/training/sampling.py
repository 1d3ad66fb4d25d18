"""Poisson sampling of K models' batches, each from the records its inclusion mask allows."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["PoissonSampler"]


class PoissonSampler:
    """Poisson sampling of K models' batches, each from the records its mask allows.

    Each allowed record joins model k's batch independently with probability q. Rather than
    one uniform per record and step, the gaps between consecutive selected records are drawn
    (geometric: ``G = floor(log U / log(1 - q)) + 1`` with U uniform in (0, 1], so
    ``P(G > k) = (1 - q)^k``), which is the same Bernoulli process at O(q n) cost per step
    instead of O(n). Uniforms are float64 (53 random bits).

    ``sample()`` returns (index K x B_max into the records, valid K x B_max, sizes K); the
    valid entries of each row come first. ``valid`` is None when nothing is padding (one
    model and a non-empty batch).
    """

    def __init__(self, K: int, n: int, q: float, mask: torch.Tensor | None, stream: Any) -> None:
        self.K, self.n, self.q, self.stream = K, n, float(q), stream
        if mask is None:
            self.allowed = None
            self.limit = torch.full((K,), n, dtype=torch.long)
            m_max = n
        else:
            counts = mask.sum(1)
            m_max = int(counts.max())
            # allowed[k, :m_k] = the records model k may use, in order
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
            self.allowed = order[:, :max(m_max, 1)].contiguous()
            self.limit = counts.to(torch.long)
        self.m_max = m_max
        if self.q < 1.0:
            mean = self.q * m_max
            self.width = int(mean + 6.0 * math.sqrt(mean * (1 - self.q)) + 8)
            self.log1mq = math.log1p(-self.q)

    def sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        K = self.K
        if self.q >= 1.0:
            pos = torch.arange(self.m_max).expand(K, self.m_max)
        else:
            parts = []
            last = torch.full((K,), -1, dtype=torch.long)
            while True:
                u = self.stream.rand((K, self.width), torch.float64)  # [0, 1)
                # log(1 - u) with 1 - u uniform on (0, 1]
                gaps = torch.log1p(-u).div_(self.log1mq).floor_().add_(1.0)
                pos = torch.cumsum(gaps, 1).to(torch.long).add_(last.unsqueeze(1))
                parts.append(pos)
                last = pos[:, -1]
                if bool((last >= self.limit).all()):
                    break
            pos = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        valid = pos < self.limit.unsqueeze(1)
        sizes = valid.sum(1)
        largest = int(sizes.max())
        bmax = max(1, largest)
        pos, valid = pos[:, :bmax], valid[:, :bmax]
        if K == 1 and largest > 0:
            idx = pos if self.allowed is None else self.allowed.gather(1, pos)
            return idx, None, sizes  # one model, no padding
        pos = torch.where(valid, pos, 0)
        idx = pos if self.allowed is None else self.allowed.gather(1, pos)
        return idx, valid, sizes
