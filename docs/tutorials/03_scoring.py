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
# # 3. Score models against neural data, the Brain-Score way
#
# A **score** says how well a model's features predict a brain region's responses to the same
# stimuli, relative to how well the brain predicts itself (the **noise ceiling**). brainbridge
# follows Brain-Score's procedure: 10 stratified shuffle splits, a linear mapping fitted on 90 %
# of the stimuli, Pearson r per neuroid on the held-out 10 %, the median over neuroids, the
# mean over splits; and a split-half, Spearman-Brown-corrected internal consistency as ceiling.
#
# The data is the bundled example: 400 images, 80 simulated neuroids in "V1" and "IT", 10
# repetitions each, with a known generative model (`docs/example.md`): V1 is a linear function
# of Gabor-filter energies, IT responds to the shape's identity.

# %%
import matplotlib.pyplot as plt
import pandas as pd

import brainbridge as bb
from brainbridge.encoding import GaborV1, ceiling, plot_score, random_cnn, score

neural = bb.get_assembly("brainbridge.example.neural")  # built on first use, fetched, verified
neural

# %%
stimuli = neural.attrs["stimulus_set"]
stimuli

# %% [markdown]
# ## The data first
# Each neuroid's mean response, per region, and how reliable the regions are: the ceiling is
# the split-half consistency over repetitions, per neuroid, summarised by the median.

# %%
neural.brainbridge.plot(kind="regions");

# %%
reliability = ceiling(neural)
reliability

# %% [markdown]
# ## Features, then a score
# A feature extractor turns the stimulus set into a `ModelFeaturesAssembly`
# (`presentation x neuroid`, one neuroid per feature). `score` maps the features to each
# region, cross-validated, and divides by the ceiling. Without `region=`, every region is
# scored on its own.

# %%
gabor = GaborV1().extract(stimuli)
print(dict(gabor.sizes))
gabor_scores = score(gabor, neural, "ridge_per_neuroid")
gabor_scores  # in Jupyter: ceiled score ± error, raw score, ceiling, per region

# %%
v1 = gabor_scores.regions["V1"]
v1  # one region: value ± error, the raw r and the ceiling, and the formula used

# %% [markdown]
# `float(v1)` is the ceiled score, `v1.ceiled_error` its error; `v1.unceiled` is the raw
# median r with Brain-Score's `error` (the SEM over splits); `v1.ceiling` the ceiling.
# The held-out predictions are kept, so the fit can be looked at:

# %%
plot_score(v1, title="Gabor V1 features vs. V1");

# %% [markdown]
# ## Several models, several metrics
# Brain-Score's metric names mean what they mean there: `pls` (PLS regression, 25
# components), `ridge`, `ridgecv`, `linear`, and the representational similarity metrics
# `rdm_cv` / `cka_cv`. `ridge_per_neuroid` is brainbridge's own ridge with one
# cross-validated penalty per neuroid. (Add `"pls"` to the metrics below for Brain-Score's
# standard neural predictivity; it takes a little longer.)
#
# The untrained control: a small CNN with random weights (PyTorch on CPU).

# %%
cnn = random_cnn(seed=0).extract(stimuli, layers=["relu3"])
features = {"gabor_v1": gabor, "random_cnn_seed0.relu3": cnn}
results = {("gabor_v1", "ridge_per_neuroid"): gabor_scores}  # scored above
rows = []
for model, assembly in features.items():
    for metric in ("ridge_per_neuroid", "rdm_cv"):
        # the regression metrics share one ceiling; rdm_cv computes its own (an RDM consistency)
        options = {"ceiling": reliability} if metric != "rdm_cv" else {}
        if (model, metric) not in results:
            results[model, metric] = score(assembly, neural, metric, **options)
        result = results[model, metric]
        for region, s in result.regions.items():
            rows.append({
                "model": model, "metric": metric, "region": region, "score": float(s),
                "error": s.value_error, "raw": float(s.unceiled), "ceiling": float(s.ceiling),
            })
table = pd.DataFrame(rows)
table.round(3)

# %% [markdown]
# ## A leaderboard
# Scores are worth keeping. The scores store (one SQLite file under `BRAINBRIDGE_HOME`) holds
# every score with its model, benchmark (assembly, its checksum, region, metric), raw score,
# ceiling and errors, and each neuroid's values; `brainbridge score` and `score_many` record
# into it by default, and `record_score` adds one computed here. The leaderboard is the
# newest score of each model x benchmark, read back from the store.

# %%
from brainbridge.encoding.scores_store import open_store, record_score  # noqa: E402

for (model, metric), result in results.items():
    record_score(result, model=model, assembly="brainbridge.example.neural", metric=metric)
stored = open_store().table()
stored[["model", "assembly", "region", "metric", "ceiled", "ceiled_error", "raw", "ceiling"]].round(3)

# %%
board = stored.pivot_table(index="model", columns=["region", "metric"], values="ceiled")
board = board.loc[board.mean(axis=1).sort_values(ascending=False).index]
board.round(3)  # the Gabor bank explains V1 almost to its ceiling and IT hardly at all, as designed

# %%
fig, ax = plt.subplots(figsize=(6, 3))
for offset, (model, group) in zip((-0.2, 0.2), table[table.metric == "ridge_per_neuroid"].groupby("model")):
    ax.bar(pd.Index(range(len(group))) + offset, group["score"], 0.4, yerr=group["error"], label=model)
ax.set_xticks(range(2), list(group["region"]))
ax.set_ylabel("ceiled score")
ax.legend(frameon=False);
