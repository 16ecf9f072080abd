"""Conformance shim: CEBRA 0.6.1's data layer (``cebra.data``, ``cebra.distributions``,
``cebra.load_data``, ``cebra.integrations.deeplabcut``) mapped onto :mod:`brainbridge.data`.

Only for running CEBRA's own tests against brainbridge (tests/conformance). The modules of
CEBRA that brainbridge does not replace (``cebra.io``, ``cebra.registry``, ``cebra.helper``,
``cebra.datasets``, ``cebra.data.helper``, ``cebra.data.masking``...) are taken from CEBRA's
source distribution, named by ``$BRAINBRIDGE_CONFORMANCE_CEBRA_SRC``: they run on top of
brainbridge's data layer. The installed cebra package is never imported.
"""

import os

from _missing import missing

from brainbridge.data import load_data, load_deeplabcut

_PEER = os.environ.get("BRAINBRIDGE_CONFORMANCE_CEBRA_SRC")
if _PEER:
    __path__.append(os.path.join(_PEER, "cebra"))

CEBRA = missing("cebra.CEBRA", "the scikit-learn estimator (models, training) is not part of brainbridge")
KNNDecoder = missing("cebra.KNNDecoder", "decoders are not part of brainbridge")
L1LinearRegressor = missing("cebra.L1LinearRegressor", "decoders are not part of brainbridge")

__version__ = "0.6.1+brainbridge-shim"
__all__ = ["CEBRA", "load_data", "load_deeplabcut"]
