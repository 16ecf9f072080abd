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
# # 1. Package your own stimuli and recordings, and load them back
#
# The BrainIO workflow: a **stimulus set** (a CSV of metadata plus a ZIP of files) and a
# **data assembly** (a labelled array in a netCDF-4 file) are written, hashed and stored, and a
# **catalog** (a CSV lookup table) records where they are. Anyone with the catalog then loads
# them by identifier; every file is checked against its SHA-1 on the way in.
#
# This tutorial makes twelve small images and a simulated recording, packages both into a new
# catalog, and loads them back. It runs in a scratch `BRAINBRIDGE_HOME`, so it leaves nothing
# behind (remove that line to keep the catalog).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

work = Path(tempfile.mkdtemp(prefix="bb-tutorial-packaging-"))
os.environ["BRAINBRIDGE_HOME"] = str(work / "home")  # a scratch home: catalogs and cache go here

import brainbridge as bb  # noqa: E402

# %% [markdown]
# ## Stimuli
# Twelve 64 x 64 images: three shapes in four colours. Any files work (PNG, JPEG, sounds...);
# a stimulus set only needs a `stimulus_id` per file, and any metadata columns you like.

# %%
image_dir = work / "images"
image_dir.mkdir()
colours = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200), "gold": (220, 180, 40)}
rows = []
for shape in ("circle", "square", "triangle"):
    for colour, rgb in colours.items():
        image = Image.new("RGB", (64, 64), (128, 128, 128))
        draw = ImageDraw.Draw(image)
        if shape == "circle":
            draw.ellipse((14, 14, 50, 50), fill=rgb)
        elif shape == "square":
            draw.rectangle((16, 16, 48, 48), fill=rgb)
        else:
            draw.polygon([(32, 12), (52, 50), (12, 50)], fill=rgb)
        stimulus_id = f"{shape}_{colour}"
        image.save(image_dir / f"{stimulus_id}.png")
        rows.append({"stimulus_id": stimulus_id, "shape": shape, "colour": colour})

stimuli = bb.StimulusSet.from_paths(
    {row["stimulus_id"]: image_dir / f"{row['stimulus_id']}.png" for row in rows},
    object_name=[row["shape"] for row in rows],
    colour=[row["colour"] for row in rows],
)
stimuli  # in Jupyter: a few thumbnails and the first rows

# %% [markdown]
# ## Recordings
# A simulated experiment: 20 neuroids in two regions, each stimulus shown 5 times. "V4"
# neuroids prefer a colour, "IT" neuroids a shape. The assembly's dimensions are
# `presentation x neuroid x time_bin`; every piece of metadata is a coordinate.

# %%
rng = np.random.default_rng(0)
ids = stimuli["stimulus_id"].to_numpy()
n_reps, n_neuroids = 5, 20
regions = np.array(["V4"] * 10 + ["IT"] * 10)
preferred = np.array(list(colours) * 3)[:10].tolist() + ["circle", "square", "triangle"] * 3 + ["circle"]
tuning = np.array(
    [[3.0 if (row["colour"] if region == "V4" else row["shape"]) == pref else 0.5 for region, pref in zip(regions, preferred)]
     for row in rows]
)  # stimulus x neuroid
presented = np.tile(np.arange(len(ids)), n_reps)
responses = 10 + 4 * tuning[presented] + rng.normal(0, 1.0, size=(len(presented), n_neuroids))

assembly = bb.NeuronRecordingAssembly(
    responses[:, :, None],
    dims=["presentation", "neuroid", "time_bin"],
    coords={
        "stimulus_id": ("presentation", ids[presented]),
        "repetition": ("presentation", np.repeat(np.arange(n_reps), len(ids))),
        "neuroid_id": ("neuroid", [f"{r}_{i:02d}" for i, r in enumerate(regions)]),
        "region": ("neuroid", regions),
        "time_bin_start": ("time_bin", [70]),
        "time_bin_end": ("time_bin", [170]),
    },
    attrs={"units": "spikes/s"},
)
assembly  # dims, coordinates and counts of distinct values

# %% [markdown]
# ## A catalog, and packaging into it
# A catalog is a CSV with BrainIO's seven columns. `Catalog.create` writes an empty one; a
# catalog in `$BRAINBRIDGE_HOME/catalogs/` (or a folder listed in `BRAINBRIDGE_CATALOGS`, or
# one shipped by a package through the `brainbridge_catalogs` entry point) is found
# automatically.
#
# `package_stimulus_set` and `package_data_assembly` validate, write deterministic files, hash
# them, copy them to the store (here a local folder; `s3://bucket/prefix` uploads) and append
# the catalog rows, all or nothing.

# %%
from brainbridge import config  # noqa: E402
from brainbridge.catalogs import Catalog, reload_catalogs  # noqa: E402
from brainbridge.packaging import package_data_assembly, package_stimulus_set  # noqa: E402

catalog_dir = config.user_catalog_dirs()[0]
catalog_dir.mkdir(parents=True, exist_ok=True)
Catalog.create("my-lab", catalog_dir / "my-lab.csv")
reload_catalogs()

store = work / "store"
stimulus_row = package_stimulus_set("my-lab", stimuli, "mylab.Shapes2026", store=store)
assembly_row = package_data_assembly(
    "my-lab", assembly, "mylab.Shapes2026.V4IT", "mylab.Shapes2026", store=store
)
print(stimulus_row["csv_sha1"], stimulus_row["zip_sha1"], assembly_row["sha1"])
sorted(p.name for p in store.iterdir())

# %%
bb.get_catalog("my-lab")[["identifier", "lookup_type", "class", "location_type", "sha1"]]

# %% [markdown]
# ## Loading them back
# `get_assembly` fetches (here: copies from the local store into the cache, verifying the
# SHA-1), opens the netCDF file lazily, and merges the stimulus set's columns into the
# `presentation` coordinates.

# %%
reloaded = bb.get_assembly("mylab.Shapes2026.V4IT")
assert np.array_equal(reloaded.sel(stimulus_id="circle_red").values, assembly.sel(stimulus_id="circle_red").values)
print(type(reloaded).__name__, dict(reloaded.sizes))
print("merged from the stimulus set:", sorted(set(map(str, reloaded.coords)) - set(map(str, assembly.coords))))
reloaded.sel(region="IT")

# %%
loaded_stimuli = bb.get_stimulus_set("mylab.Shapes2026")
print(loaded_stimuli.get_stimulus("square_blue"))
loaded_stimuli

# %% [markdown]
# A quick look at the data: the IT neuroids respond to shapes, so their representational
# dissimilarity matrix (ordered by `object_name`) shows three blocks.

# %%
reloaded.brainbridge.plot(kind="rdm", region="IT", sort_by="object_name");

# %% [markdown]
# ## Packaging is idempotent, and conflicts are refused
# Packaging the same content under the same identifier again changes nothing; different
# content under an identifier that is already catalogued is refused, and nothing is written.

# %%
from brainbridge.errors import PackagingConflictError  # noqa: E402

package_data_assembly("my-lab", assembly, "mylab.Shapes2026.V4IT", "mylab.Shapes2026", store=store)
try:
    package_data_assembly("my-lab", assembly * 2, "mylab.Shapes2026.V4IT", "mylab.Shapes2026", store=store)
except PackagingConflictError as error:
    print("refused:", error)
len(bb.get_catalog("my-lab"))

# %% [markdown]
# ## The files are BrainIO's
# The assembly file is a plain netCDF-4 file in BrainIO's layout: `xarray.open_dataarray`
# reads it, and so does BrainIO 1.1 (`brainio.assemblies.DataAssembly.from_files`).

# %%
import xarray as xr  # noqa: E402

with xr.open_dataarray(store / assembly_row["location"].split("/")[-1]) as raw:
    print(raw.dims, list(raw.coords)[:6], raw.attrs["identifier"])
