"""``import brainbridge.data`` and ``load_data`` work where PyTorch cannot be imported.

A fresh interpreter gets a ``sys.meta_path`` finder that refuses ``torch`` (as if it were not
installed), then uses the parts of brainbridge.data that must not need it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

_BLOCK_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())
"""

_USE = """
import json, sys
import brainbridge.data as bd
from click.testing import CliRunner
from brainbridge.cli import main

folder = sys.argv[1]
out = {}
out["npy"] = bd.load_data(folder + "/a.npy").tolist()
out["h5"] = bd.load_data(folder + "/f.h5").tolist()
out["csv"] = bd.load_data(folder + "/c.csv").tolist()
out["offset"] = len(bd.Offset(2, 3))
for what, call in [("dataset", lambda: bd.TensorDataset), ("pt", lambda: bd.load_data(folder + "/t.pt"))]:
    try:
        call()
    except bd.TorchMissingError as e:
        out[what] = [str(e), isinstance(e, ModuleNotFoundError)]
result = CliRunner().invoke(main, ["data", "describe", folder + "/a.npy", "--json"])
out["cli"] = [result.exit_code, result.output]
out["torch_imported"] = any(m == "torch" or m.startswith("torch.") for m in sys.modules)
print(json.dumps(out))
"""


def test_data_package_and_load_data_need_no_torch(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(3, 2))
    pd.DataFrame({"x": [1.0, 2.0]}).to_hdf(tmp_path / "f.h5", key="f")
    (tmp_path / "c.csv").write_text("1,2\n3,4\n")
    import torch

    torch.save(torch.zeros(2), tmp_path / "t.pt")
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCK_TORCH + _USE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["npy"] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert out["h5"] == [[1.0], [2.0]] and out["csv"] == [[1, 2], [3, 4]] and out["offset"] == 5
    for what in ("dataset", "pt"):
        message, is_module_error = out[what]
        assert "pip install torch==2.13.0" in message and "brainbridge[ml]" not in message
        assert is_module_error
    assert out["cli"][0] == 0 and '"shape": [3, 2]' in out["cli"][1]
    assert out["torch_imported"] is False


def test_cli_hint_for_a_missing_torch_names_the_right_install(tmp_path):
    """A command whose module needs torch says to install torch itself, not the [ml] extra."""
    code = _BLOCK_TORCH + (
        "import click, brainbridge.cli as cli\n"
        "from click.testing import CliRunner\n"
        "cli.COMMANDS['needs-torch'] = ('torch.nn', 'Module', 'x', 'ml')\n"
        "cli._available = lambda module: True\n"
        "r = CliRunner().invoke(cli.main, ['needs-torch'])\n"
        "print(r.exit_code, r.output)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pip install torch==2.13.0" in proc.stdout and "brainbridge[ml]" not in proc.stdout
