"""The suite's isolation: registries and warn-once flags never leak from one test into the next."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.conftest import _restore_pristine

from brainbridge import catalogs
from brainbridge.catalogs import LOOKUP_COLUMNS, Catalog


def _probe_catalog() -> Catalog:
    return Catalog(pd.DataFrame(columns=LOOKUP_COLUMNS), identifier="leak-probe")


def test_registered_catalogs_and_loaded_catalogs_are_reset():
    catalogs.register(_probe_catalog())
    catalogs._loaded["leak-probe"] = _probe_catalog()
    assert "leak-probe" in catalogs._registered
    _restore_pristine()
    assert "leak-probe" not in catalogs._registered and "leak-probe" not in catalogs._loaded


def test_registered_models_are_reset():
    registry = pytest.importorskip("brainbridge.encoding.registry")
    from tests.encoding.test_registry import _card

    card = registry.register_model(_card(model="leakprobe"))
    ids = {c.model_id for c in registry.list_cards()}
    assert card.model_id in ids
    _restore_pristine()
    ids = {c.model_id for c in registry.list_cards()}
    assert card.model_id not in ids
    assert "ephys-brainbridge_example-gabor_v1" in ids  # built-ins stay


def test_warn_once_flags_are_reset():
    datasets = pytest.importorskip("brainbridge.data.datasets")
    datasets._warned_pinning = True
    _restore_pristine()
    assert datasets._warned_pinning is False
