"""Multi-session samplers (``cebra.distributions.multisession`` counterpart).

They live with the multi-session loaders in :mod:`brainbridge.data.multisession`.
"""

from brainbridge.data.multisession import DiscreteMultisessionSampler, MultisessionSampler, UnifiedSampler

__all__ = ["DiscreteMultisessionSampler", "MultisessionSampler", "UnifiedSampler"]
