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
# # 5. A contrastive embedding of neural data, the CEBRA way
#
# CEBRA learns a low-dimensional embedding of neural activity with a contrastive loss: for a
# *reference* sample, a *positive* sample (same label, or nearby in time) should embed closer
# than *negative* samples drawn from the whole recording. `brainbridge.data` provides CEBRA's
# datasets and loaders (same names as `cebra.data`), fed directly from assemblies; here we
# train a small encoder with plain PyTorch on CPU in a few seconds.
#
# The data: the bundled example's responses to the 160 shape images (8 shapes, 10 repetitions
# each), 80 neuroids in V1 and IT. Repetitions 0-7 train, 8-9 test.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import brainbridge as bb
import brainbridge.data as bd

torch.manual_seed(0)
torch.set_num_threads(1)  # a model this small runs fastest on one thread (no thread hand-offs)

neural = bb.get_assembly("brainbridge.example.neural")
shapes = neural.isel(presentation=np.flatnonzero(neural["category_name"].values == "shape"))
train = shapes.isel(presentation=np.flatnonzero(shapes["repetition"].values < 8))
test = shapes.isel(presentation=np.flatnonzero(shapes["repetition"].values >= 8))
print(dict(train.sizes), dict(test.sizes))

# %% [markdown]
# ## A dataset and a loader
# `dataset_from_assembly` makes the neuroids the features and any coordinate a label (here the
# shape, `object_name`, as a discrete index). A `DiscreteDataLoader` draws batches of
# reference, positive (same shape) and negative samples, reproducibly from one `seed`.

# %%
scale = float(train.values.std())
dataset = bd.dataset_from_assembly(train / scale, discrete="object_name")
print(dataset, "| labels:", list(dataset.discrete_categories))
loader = bd.DiscreteDataLoader(dataset, num_steps=400, batch_size=256, seed=0)
batch = next(iter(loader))
print("reference", tuple(batch.reference.shape), "positive", tuple(batch.positive.shape))

# %% [markdown]
# ## The encoder and the loss
# An MLP to a 3-D embedding on the unit sphere, and CEBRA's InfoNCE loss with cosine
# similarity: `-log(exp(s(r, p)/T) / sum_n exp(s(r, n)/T))`.

# %%
n_neuroids = dataset.input_dimension
encoder = torch.nn.Sequential(
    torch.nn.Flatten(),
    torch.nn.Linear(n_neuroids, 64), torch.nn.GELU(),
    torch.nn.Linear(64, 32), torch.nn.GELU(),
    torch.nn.Linear(32, 3),
)


def embed(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(encoder(x), dim=1)


def info_nce(reference, positive, negative, temperature=0.5):
    positive_similarity = (reference * positive).sum(1) / temperature
    negative_similarity = reference @ negative.T / temperature
    return (-positive_similarity + torch.logsumexp(negative_similarity, dim=1)).mean()


optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
losses = []
for batch in bd.PrefetchLoader(loader):  # batches prepared in a background thread
    loss = info_nce(embed(batch.reference), embed(batch.positive), embed(batch.negative))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print(f"loss: {np.mean(losses[:20]):.3f} (first 20 steps) -> {np.mean(losses[-20:]):.3f} (last 20)")

# %% [markdown]
# ## The embedding
# Embed the held-out repetitions and colour them by shape: each shape has its own region of
# the sphere.

# %%
def embedding_of(assembly):
    data = bd.dataset_from_assembly(assembly / scale, discrete="object_name")
    with torch.no_grad():
        return embed(data.neural[:, :, None]).numpy(), np.asarray(assembly["object_name"].values)


test_embedding, test_labels = embedding_of(test)
fig = plt.figure(figsize=(9, 4))
ax = fig.add_subplot(1, 2, 1, projection="3d")
for label in np.unique(test_labels):
    keep = test_labels == label
    ax.scatter(*test_embedding[keep].T, s=8, label=label.replace("shape_", ""))
ax.set_title("held-out repetitions")
ax.legend(fontsize="x-small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
curve = fig.add_subplot(1, 2, 2)
curve.plot(losses)
curve.set_xlabel("step")
curve.set_ylabel("InfoNCE loss")
fig.tight_layout()

# %% [markdown]
# ## How much shape information the embedding keeps
# A k-nearest-neighbour decoder of the shape, trained on the training repetitions, tested on
# the held-out ones: on the 3-D embedding and, for comparison, on all 80 neuroids.

# %%
train_embedding, train_labels = embedding_of(train)
knn = KNeighborsClassifier(n_neighbors=15)
embedded_accuracy = knn.fit(train_embedding, train_labels).score(test_embedding, test_labels)
raw = KNeighborsClassifier(n_neighbors=15).fit(train.values[:, :, 0], train_labels)
raw_accuracy = raw.score(test.values[:, :, 0], test_labels)
print(f"shape decoding on held-out repetitions: 3-D embedding {embedded_accuracy:.2f}, "
      f"80 neuroids {raw_accuracy:.2f} (chance {1 / len(np.unique(train_labels)):.2f})")
print("5-fold accuracy within the training repetitions:",
      cross_val_score(KNeighborsClassifier(15), train_embedding, train_labels, cv=5).mean().round(2))

# %% [markdown]
# The loaders are CEBRA's: `ContinuousDataLoader` (a behaviour variable, `conditional=
# "time_delta"`), `HybridDataLoader`, multi-session collections with one label code book
# (`bd.collection_from_sessions` over an ecephys project, see tutorial 2), and CEBRA itself
# accepts these datasets (`from brainbridge.data import ...` instead of `from cebra.data import ...`).
