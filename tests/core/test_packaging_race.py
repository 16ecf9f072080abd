"""Issue 10 item 10: two real processes packaging one identifier with different content.

Before, both passed their checks, both copied their file to the same name, the loser's
catalog append failed and it deleted "its" file, which was the winner's: the winner
reported OK with a row pointing at a file that no longer existed (or held other bytes).
Now write, hash and register are serialised per store file: exactly one process wins, the
other gets a PackagingConflictError, and the catalogued row matches the stored file.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from tests.core.test_packaging import proto_stimuli

from brainbridge import config
from brainbridge.catalogs import Catalog, get_assembly, reload_catalogs
from brainbridge.fetch import sha1_hash
from brainbridge.packaging import package_stimulus_set

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

SCRIPT = r"""
import os, sys, time
import numpy as np
from brainbridge import packaging
from brainbridge.assemblies import NeuronRecordingAssembly
from brainbridge.errors import PackagingConflictError

seed, go = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(seed)
ids = ["001", "002", "003"] * 2
assembly = NeuronRecordingAssembly(
    rng.normal(size=(6, 4)).astype("float32"), dims=["presentation", "neuroid"],
    coords={"stimulus_id": ("presentation", ids), "repetition": ("presentation", [0, 0, 0, 1, 1, 1]),
            "neuroid_id": ("neuroid", ["n0", "n1", "n2", "n3"])})
# widen the windows between checking the store, storing the file and cataloguing it, as a
# slow disk would (so the two processes overlap there without a lock)
put = packaging._Store.put
def slow_put(self, local, name):
    time.sleep(0.5)
    result = put(self, local, name)
    time.sleep(0.5)
    return result
packaging._Store.put = slow_put
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
try:
    info = packaging.package_data_assembly("race", assembly, "race.assembly", "race.stimuli")
except PackagingConflictError as e:
    print("CONFLICT", str(e).splitlines()[0], flush=True)
    sys.exit(3)
print("OK", info["sha1"], flush=True)
"""


def test_two_processes_same_identifier_other_content(tmp_path):
    folder = config.user_catalog_dirs()[0]
    folder.mkdir(parents=True)
    Catalog.create("race", folder / "race.csv")
    reload_catalogs()
    package_stimulus_set("race", proto_stimuli(tmp_path), "race.stimuli", store=str(folder / "race"))
    # the assembly goes to the same store folder as the stimulus set (chosen per catalog row)
    go = tmp_path / "go"
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(seed), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate()
    go.touch()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 3], outputs
    winner = next(out for (out, _), proc in zip(outputs, procs) if proc.returncode == 0)
    loser = next(out for (out, _), proc in zip(outputs, procs) if proc.returncode == 3)
    assert "other content" in loser
    sha1 = winner.split()[1]
    rows = pd.read_csv(folder / "race.csv", dtype=str, keep_default_na=False)
    row = rows[rows["identifier"] == "race.assembly"]
    assert len(row) == 1 and row["sha1"].iloc[0] == sha1
    stored = folder / row["location"].iloc[0]
    assert stored.is_file() and sha1_hash(stored) == sha1  # the row points at the winner's bytes
    reload_catalogs()
    assert get_assembly("race.assembly").sizes["neuroid"] == 4
