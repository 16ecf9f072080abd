"""``cebra.io``: CEBRA's own module, with ``HasDevice`` also recognising brainbridge's datasets.

CEBRA's tests check ``isinstance(dataset, cebra.io.HasDevice)``; brainbridge's datasets and
loaders provide the same protocol (``.device``, ``.to(device)``) without inheriting CEBRA's
mixin, so they are registered as virtual subclasses. Everything else is CEBRA's code, loaded
from its source distribution.
"""

import abc
import importlib.util
import os

from brainbridge.data.datasets import Dataset

_spec = importlib.util.spec_from_file_location(
    "cebra._peer_io", os.path.join(os.environ["BRAINBRIDGE_CONFORMANCE_CEBRA_SRC"], "cebra", "io.py")
)
_peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_peer)

for _name in dir(_peer):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_peer, _name)


class HasDevice(_peer.HasDevice, metaclass=abc.ABCMeta):
    """CEBRA's ``HasDevice``; brainbridge's :class:`~brainbridge.data.Dataset` is a virtual subclass."""


HasDevice.register(Dataset)
