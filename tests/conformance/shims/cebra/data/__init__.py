"""``cebra.data`` -> :mod:`brainbridge.data` (see the package docstring of the shim)."""

import os

from brainbridge.data.base import *  # noqa: F403
from brainbridge.data.datasets import *  # noqa: F403
from brainbridge.data.datatypes import *  # noqa: F403
from brainbridge.data.multi_session import *  # noqa: F403
from brainbridge.data.single_session import *  # noqa: F403

_PEER = os.environ.get("BRAINBRIDGE_CONFORMANCE_CEBRA_SRC")
if _PEER:  # cebra.data.helper, .masking, .assets, .multiobjective: CEBRA's own code
    __path__.append(os.path.join(_PEER, "cebra", "data"))  # noqa: F405

# ``cebra.data.datasets`` etc. are reachable as attributes after ``import cebra.data``, as in CEBRA
from . import base as base  # noqa: E402
from . import datasets as datasets  # noqa: E402
from . import datatypes as datatypes  # noqa: E402
from . import load as load  # noqa: E402
from . import multi_session as multi_session  # noqa: E402
from . import single_session as single_session  # noqa: E402
