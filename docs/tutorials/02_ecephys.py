# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Electrophysiology over NWB, the AllenSDK way
#
# `brainbridge.ecephys` reads a project of NWB files with AllenSDK's `EcephysProjectCache` and
# `EcephysSession` API: session, probe, channel and unit tables with quality filters, lazy
# sessions, spike counts in AllenSDK's shape, and assemblies for the encoding and ML tools.
#
# Here the project is a folder of **real NWB files** (DANDI layout,
# `sub-<subject>/sub-<subject>_ses-<session>.nwb`): recordings from mouse anterior lateral motor
# cortex during a delayed-response task (Economo et al. 2018), and one file written by
# pynapple's converter. Allen's own release works the same way with
# `EcephysProjectCache.from_warehouse()`.

# %%
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from brainbridge.ecephys import EcephysProjectCache


def project_root() -> Path:
    """The brainbridge checkout (the folder with pyproject.toml) above the working directory."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "pyproject.toml").exists():
            return folder
    raise FileNotFoundError("run this tutorial from inside the brainbridge checkout")


fixtures = project_root().parent / "shared" / "fixtures" / "nwb"
work = Path(tempfile.mkdtemp(prefix="bb-tutorial-ecephys-"))
dandiset = work / "dandiset"
for name in ("sub-anm369963_ses-20170228.nwb", "sub-anm372793_ses-20170508.nwb"):
    subject = name.split("_")[0]
    (dandiset / subject).mkdir(parents=True)
    shutil.copy2(fixtures / name, dandiset / subject / name)
(dandiset / "sub-A8604").mkdir()
shutil.copy2(fixtures / "A8604-211122.nwb", dandiset / "sub-A8604" / "sub-A8604_ses-211122.nwb")
sorted(str(p.relative_to(dandiset)) for p in dandiset.rglob("*.nwb"))

# %% [markdown]
# ## The project and its tables
# `from_source` takes an Allen-style store, any folder of NWB files (as here), or `dandi:<id>`.
# The tables are derived from the files once and cached beside the manifest; a changed file is
# derived again.

# %%
cache = EcephysProjectCache.from_source(dandiset, manifest=work / "cache" / "manifest.json")
sessions = cache.get_session_table()
sessions[["species", "probe_count", "channel_count", "unit_count"]]

# %%
cache.get_probes().head()

# %%
channels = cache.get_channels()
print(len(channels), "channels")
channels.head(3)

# %% [markdown]
# ## Units and quality filters
# `get_units` joins units with their channel, probe and session, as AllenSDK does, and applies
# its default validity filter (`quality == "good"`). These labs label quality their own way,
# so the label is kept as `nwb_quality` and no unit is dropped for it. AllenSDK's metric
# filters (`amplitude_cutoff_maximum`, `presence_ratio_minimum`, `isi_violations_maximum`)
# apply where a project has those metrics; any other column filters with pandas.

# %%
units = cache.get_units()
units[["ecephys_session_id", "nwb_unit_id", "spike_count", "nwb_quality"]]

# %%
busy = units[units["spike_count"] >= 2000]
print(f"{len(busy)} of {len(units)} units have at least 2000 spikes")
try:
    cache.get_units(spike_count_minimum=2000)
except Exception as error:  # a misspelt or unknown filter is an error, never silently ignored
    print(type(error).__name__, error)

# %% [markdown]
# ## A session
# `get_session_data` opens one NWB file lazily. The trials of this task are the session's
# "stimulus presentations"; their `stop_time` is missing in the file (real files are messy),
# and the task events (`pole_in_time`, `cue_start_time`...) are stored relative to each trial's
# start. So we align to the moment the pole comes in: `start_time + pole_in_time`.

# %%
session = cache.get_session_data("sub-anm369963_ses-20170228")
print(session.num_units, "unit,", session.num_stimulus_presentations, "trials")
trials = session.stimulus_presentations
trials[["start_time", "pole_in_time", "pole_out_time", "cue_start_time", "type", "response"]].head()

# %%
pole_in = (trials["start_time"] + trials["pole_in_time"]).to_numpy()  # absolute times, seconds

# %% [markdown]
# ## Spike counts
# `presentationwise_spike_counts` bins each unit's spikes around each trial and returns
# AllenSDK's `stimulus_presentation_id x time_relative_to_stimulus_onset x unit_id` array.

# %%
edges = np.arange(-0.5, 2.0001, 0.1)  # seconds around the pole coming in
counts = session.presentationwise_spike_counts(edges, align_to=pole_in)
print(dict(counts.sizes))
rate = counts.mean("stimulus_presentation_id") / 0.1  # spikes/s
rate.squeeze().to_pandas().round(2).to_frame("spikes/s").T

# %% [markdown]
# ## A raster and a PSTH
# `plot_unit` draws one unit's raster (trials grouped by their condition) above its PSTH.

# %%
from brainbridge.ecephys.plots import plot_unit  # noqa: E402

unit_id = session.units.index[0]
figure = plot_unit(session, unit_id, window=(-0.5, 2.0), bin_size=0.05, align_to=pole_in)

# %% [markdown]
# Or by hand, from the unit's spike train and the trials' event times:

# %%
from brainbridge.ecephys.plots import aligned_spike_times  # noqa: E402

by_type = trials.sort_values(["type", "start_time"])
onsets = (by_type["start_time"] + by_type["pole_in_time"]).to_numpy()
times, rows = aligned_spike_times(session.spike_times[unit_id], onsets, (-0.5, 2.0))
fig, ax = plt.subplots(figsize=(6, 3.5))
kinds = by_type["type"].to_numpy()
for kind in dict.fromkeys(kinds):
    mine = kinds[rows] == kind
    ax.plot(times[mine], rows[mine], "|", markersize=3, label=kind)
ax.set_xlabel("time from pole in (s)")
ax.set_ylabel("trial (by type)")
ax.legend(frameon=False, fontsize="small", loc="upper right");

# %% [markdown]
# ## Into an assembly
# `to_assembly` turns the counts into a `NeuronRecordingAssembly` (`presentation x neuroid x
# time_bin`) that keeps every trial and unit column as a coordinate: ready for scoring, for
# the `brainbridge.data` loaders, or for packaging into a catalog (tutorial 1).

# %%
assembly = session.to_assembly(counts)
assembly

# %%
assembly.brainbridge.plot(kind="psth");
session.close()
