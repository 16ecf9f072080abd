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
# # 4. Encoding models and in silico responses, the NED / BERG way
#
# An **encoding model** predicts a brain region's responses to any image: a feature extractor
# plus a mapping fitted on recorded data. NED and BERG ship such models with a small API
# (`list_models`, `describe`, `get_encoding_model`, `encode`, pre-generated in silico
# responses). brainbridge has the same calls over its own models, trained on first use from a
# catalogued benchmark and cached, and reads NED's and BERG's folders too.
#
# The models here are trained on the bundled example recordings (V1 and IT, two animals); the
# new images are 24 stimuli the models never saw, with known noiseless responses.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import brainbridge as bb
from brainbridge.encoding import describe, encode, get_encoding_model, list_models
from brainbridge.encoding.registry import get_card
from brainbridge.examples import ground_truth, new_images_dir

list_models()

# %% [markdown]
# ## The model card
# What a model is, what it was trained on, what can be selected, how its accuracy is measured.

# %%
card = get_card("ephys-brainbridge_example-gabor_v1")
card

# %%
info = describe("ephys-brainbridge_example-gabor_v1")  # the same card as plain data (JSON)
{key: info[key] for key in ("roi_key", "subjects", "usage")}

# %% [markdown]
# ## Loading a model
# `get_encoding_model` takes a selection (which regions) and a subject (which animal). The
# first call trains the fits on the catalogued recordings and caches them under a content
# hash (as arrays, never pickles); later calls load them.

# %%
model = get_encoding_model(
    "ephys-brainbridge_example-gabor_v1", selection={"region": ["V1", "IT"]}, subject="monkey_a", progress=False
)
model  # the card, the selection and each region's cross-validated accuracy

# %% [markdown]
# ## In silico responses to new images
# `encode` takes a folder of images, a list of paths, a stimulus set or an image array, and
# returns a `NeuronRecordingAssembly` (`presentation x neuroid`).

# %%
images = bb.StimulusSet.from_paths(sorted(new_images_dir().glob("*.png")))
images

# %%
predicted, metadata = encode(model, images, return_metadata=True, progress=False)
predicted

# %% [markdown]
# The example's generative model is known, so the predictions can be checked against the true
# noiseless responses of the same neuroids: per neuroid, the correlation over the 24 images.

# %%
truth = ground_truth("new_images").responses.transpose("presentation", "neuroid")
rows = pd.Index(truth["stimulus_id"].values).get_indexer(predicted["stimulus_id"].values)
columns = pd.Index(truth["neuroid_id"].values).get_indexer(predicted["neuroid_id"].values)
true_values = truth.values[np.ix_(rows, columns)]  # the same images and neuroids, in the same order
r = [np.corrcoef(predicted.values[:, i], true_values[:, i])[0, 1] for i in range(predicted.sizes["neuroid"])]
regions = predicted["region"].values
for region in ("V1", "IT"):
    print(f"{region}: median r with the truth over new images = {np.median(np.array(r)[regions == region]):.2f}")

fig, ax = plt.subplots(figsize=(4, 4))
for region in ("V1", "IT"):
    keep = regions == region
    ax.plot(true_values[:, keep].ravel(), predicted.values[:, keep].ravel(), ".", alpha=0.4, label=region)
ax.set_xlabel("true response (spikes/s)")
ax.set_ylabel("predicted (spikes/s)")
ax.legend(frameon=False);

# %% [markdown]
# ## Pre-generated in silico responses
# NED's `load_insilico_neural_responses` reads responses generated in advance for a whole image
# set. brainbridge generates them on first request (in batches, resumable), stores them as an
# ordinary assembly file with the metadata inside (JSON, not a pickle), and opens them lazily.

# %%
responses, meta = bb.load_insilico_neural_responses(
    "ephys-brainbridge_example-gabor_v1", "brainbridge.example.stimuli",
    selection={"region": ["V1"]}, subject="monkey_a", progress=False,
)
print(dict(responses.sizes), "| metadata keys:", sorted(meta)[:6])
responses.brainbridge.plot(kind="rdm");

# %% [markdown]
# ## The same, with BERG's calls
# Code written for BERG runs after changing the import. A BERG folder's own models (EEG, fMRI)
# are listed beside brainbridge's; here the folder is empty, so only brainbridge's appear.
# `encode` returns numpy arrays, as in BERG. NED's class (`brainbridge.ned.NED`) reads a NED
# folder the same way. BERG's Brain-Score gateway works too:
# `berg.list_models(expand_brainscore_vision=True)` lists `brainscore_vision-gabor_v1` and the other
# offline models, and `berg.get_encoding_model("brainscore_vision-gabor_v1", selection={"roi": "V1"})`
# fits Brain-Score's PLS(25) on the example benchmark once (cached), then encodes `(N, n_units)`.

# %%
import tempfile  # noqa: E402

from brainbridge.berg import BERG  # noqa: E402  (was: from berg import BERG)

berg = BERG(tempfile.mkdtemp(prefix="brain-encoding-response-generator-"))
berg.get_model_catalog(print_format=True)
berg_model = berg.get_encoding_model(
    "ephys-brainbridge_example-gabor_v1", selection={"region": ["V1"]}, subject="monkey_a"
)
eeg_like, berg_meta = berg.encode(berg_model, new_images_dir(), return_metadata=True, progress=False)
print(type(eeg_like).__name__, eeg_like.shape, eeg_like.dtype)
