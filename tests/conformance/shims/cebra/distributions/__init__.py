"""``cebra.distributions`` -> :mod:`brainbridge.data.distributions`."""

import os

from brainbridge.data.distributions import *  # noqa: F403
from brainbridge.data.distributions import (  # noqa: F401 (lazy names are not in a star import)
    DiscreteMultisessionSampler,
    MultisessionSampler,
    UnifiedSampler,
)

_PEER = os.environ.get("BRAINBRIDGE_CONFORMANCE_CEBRA_SRC")
if _PEER:  # cebra.distributions.base (abstract interfaces): CEBRA's own code
    __path__.append(os.path.join(_PEER, "cebra", "distributions"))  # noqa: F405

# ``cebra.distributions.index`` etc. are reachable as attributes, as in CEBRA
from . import continuous as continuous  # noqa: E402
from . import discrete as discrete  # noqa: E402
from . import index as index  # noqa: E402
from . import mixed as mixed  # noqa: E402
from . import multisession as multisession  # noqa: E402
