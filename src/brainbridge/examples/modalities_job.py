"""The fMRI and EEG part of the main job: NED/BERG's linearising recipe on the simulated sets.

Steps (listed in :data:`brainbridge.examples.main_job.MODALITY_STEPS`, after the encoding
steps of the spiking example):

:func:`step_modalities_data`
    Builds the two sets once (then the example catalog lists them) and loads
    ``brainbridge.example.fmri`` and ``brainbridge.example.eeg`` through the catalog.
:func:`step_fmri`
    Per subject and ROI (V1, V4, LOC): Gabor-energy features -> StandardScaler -> PCA(100) ->
    OLS trained on the 340 training images (repetition means), scored on the 60 test images
    against their 3-repetition means: r per voxel, NSD's noise ceiling from ``ncsnr``, noise-
    normalised explained variance. Saves ``fmri_scores.csv`` and ``fmri_r_vs_ceiling.png``.
:func:`step_eeg`
    The same recipe with one regression per training repetition (4), predicting NED's
    ``(N, 4, 63, 140)``; scored as NED scores THINGS-EEG2 (r with a half of the test
    repetitions, lower and upper split-half ceilings, 10 halvings), per channel and time.
    Saves ``eeg_scores.csv`` and ``eeg_r_over_time.png`` (per channel group).
:func:`step_ned_export`
    Writes the fMRI (subj01, V1) and EEG models in NED's layout with their pre-generated
    responses to the example's new images (``ned/``), and reads both back with
    ``brainbridge.ned.NED``.

The recipe needs only numpy (the Gabor extractor too); the steps skip themselves when the
example's encoding steps were skipped for another assembly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbridge.formatting import format_table

__all__ = ["N_COMPONENTS", "step_eeg", "step_fmri", "step_modalities_data", "step_ned_export"]

Echo = Callable[[str], None]
#: principal components of the example's recipe (NED/BERG keep 250 of 460,800 ViT features)
N_COMPONENTS = 100


def _features(context: dict, stimulus_set) -> tuple[Any, Any]:
    from brainbridge.encoding.cache import cached_features
    from brainbridge.encoding.registry import get_extractor

    if "modalities_features" not in context:
        gabor = get_extractor("gabor_v1")
        context["modalities_extractor"] = gabor
        context["modalities_features"] = cached_features(gabor, stimulus_set, ["energy"], progress=False)
    return context["modalities_extractor"], context["modalities_features"]


def _rows(features, ids) -> np.ndarray:
    index = pd.Index(np.asarray(features["stimulus_id"].values).astype(str)).get_indexer(
        [str(i) for i in ids]
    )
    return np.asarray(features.values)[index]


def step_modalities_data(context: dict, echo: Echo) -> None:
    """Load the simulated fMRI and EEG assemblies (``fmri``, ``eeg`` in the context)."""
    from brainbridge import catalogs
    from brainbridge.examples.build import ASSEMBLY_IDENTIFIER
    from brainbridge.examples.modalities import EEG_IDENTIFIER, FMRI_IDENTIFIER, ensure_modalities

    if context.get("assembly_identifier", ASSEMBLY_IDENTIFIER) != ASSEMBLY_IDENTIFIER:
        return  # another assembly's job: the example's fMRI/EEG steps do not apply
    try:
        import sklearn  # noqa: F401
    except ImportError:
        echo(
            "fMRI and EEG steps skipped: the encoding extra is not installed "
            "(pip install 'brainbridge[encoding]')"
        )
        return
    started = time.perf_counter()
    ensure_modalities()  # built once; from then on the example catalog lists both sets
    context["fmri"] = catalogs.get_assembly(FMRI_IDENTIFIER)
    context["eeg"] = catalogs.get_assembly(EEG_IDENTIFIER)
    echo("")
    echo(
        f"fMRI and EEG: loaded {FMRI_IDENTIFIER} {dict(context['fmri'].sizes)} and {EEG_IDENTIFIER} "
        f"{dict(context['eeg'].sizes)} ({time.perf_counter() - started:.1f} s)"
    )


def _voxels(assembly, subject: str, roi: str):
    from brainbridge.assemblies import select_rois

    mask = np.asarray(assembly["subject"].values).astype(str) == subject
    return select_rois(assembly.isel(voxel=np.flatnonzero(mask)), roi)


def step_fmri(context: dict, echo: Echo) -> None:
    """Train and score the recipe per subject and ROI; adds ``fmri_scores`` and ``fmri_accuracy``."""
    if context.get("fmri") is None:
        return
    from brainbridge.assemblies import VoxelAssembly
    from brainbridge.encoding.linearising import LinearisingRecipe, fmri_accuracy, get_or_train_linearising
    from brainbridge.examples.modalities import ROIS, SUBJECTS

    fmri = context["fmri"]
    gabor, features = _features(context, fmri.attrs["stimulus_set"])
    split = np.asarray(fmri["split"].values).astype(str)
    train = VoxelAssembly(fmri.isel(presentation=np.flatnonzero(split == "train")))
    test = fmri.isel(presentation=np.flatnonzero(split == "test"))
    test_ids = list(pd.unique(np.asarray(test["stimulus_id"].values).astype(str)))
    x_test = _rows(features, test_ids)
    recipe = LinearisingRecipe(n_components=N_COMPONENTS)
    rows, accuracy, fits = [], {}, {}
    started = time.perf_counter()
    for subject in SUBJECTS:
        for roi in ROIS:
            fit = get_or_train_linearising(
                train,
                extractor=gabor,
                layers=["energy"],
                features=features,
                subject=subject,
                roi=roi,
                recipe=recipe,
            )
            result = fmri_accuracy(fit.predict(x_test), _voxels(test, subject, roi), test_ids)
            accuracy[(subject, roi)] = result
            fits[(subject, roi)] = fit
            rows.append(
                {
                    "subject": subject,
                    "roi": roi,
                    "voxels": len(result["r"]),
                    "median_r": float(np.median(result["r"])),
                    "median_ceiling_r": float(np.median(np.sqrt(result["noise_ceiling"]))),
                    "median_explained_variance_pct": float(np.median(result["explained_variance"])),
                }
            )
    table = pd.DataFrame(rows)
    context.update(fmri_scores=table, fmri_accuracy=accuracy, fmri_fits=fits)
    out = Path(context["out_dir"])
    table.to_csv(out / "fmri_scores.csv", index=False)
    context["fmri_plot"] = plot_fmri(accuracy, out / "fmri_r_vs_ceiling.png")
    echo(
        f"fMRI: Gabor energy -> StandardScaler -> PCA({N_COMPONENTS}) -> OLS per subject x ROI, "
        f"340 training images, 60 test images x 3 repetitions ({time.perf_counter() - started:.1f} s)"
    )
    shown = table.copy()
    for column in ("median_r", "median_ceiling_r", "median_explained_variance_pct"):
        shown[column] = shown[column].map(lambda v, c=column: f"{v:.3f}" if "pct" not in c else f"{v:.1f}")
    echo(
        format_table(
            shown.rename(
                columns={
                    "median_r": "median r",
                    "median_ceiling_r": "ceiling r",
                    "median_explained_variance_pct": "expl. var. %",
                }
            )
        )
    )
    echo(f"saved {out / 'fmri_scores.csv'} and {context['fmri_plot']}")


def plot_fmri(accuracy: dict, path: Path) -> Path:
    """r per voxel against the noise ceiling (sqrt of NSD's NC), per ROI and subject."""
    from brainbridge.examples.encoding_job import _figure, _save
    from brainbridge.examples.modalities import ROIS, SUBJECTS

    figure = _figure(7, 3.6)
    axes = figure.subplots(1, len(ROIS), sharey=True)
    for ax, roi in zip(axes, ROIS):
        for k, subject in enumerate(SUBJECTS):
            result = accuracy[(subject, roi)]
            ax.scatter(
                np.sqrt(result["noise_ceiling"]), result["r"], s=14, alpha=0.8, label=subject, color=f"C{k}"
            )
        ax.plot([0, 1], [0, 1], color="0.5", lw=0.8, ls="--")
        ax.set_title(roi)
        ax.set_xlabel("noise ceiling (r)")
        ax.set_xlim(0, 1)
    axes[0].set_ylabel("test r (per voxel)")
    axes[0].legend(fontsize=8)
    figure.suptitle("fMRI: linearising recipe on Gabor energy, r against the noise ceiling")
    return _save(figure, path)


def step_eeg(context: dict, echo: Echo) -> None:
    """Train one regression per training repetition; score per channel and time against NED's ceilings."""
    if context.get("eeg") is None:
        return
    from brainbridge.assemblies import EEGAssembly
    from brainbridge.encoding.linearising import LinearisingRecipe, eeg_accuracy, get_or_train_linearising
    from brainbridge.regions import CHANNEL_GROUPS, channel_group

    eeg = context["eeg"]
    gabor, features = _features(context, eeg.attrs["stimulus_set"])
    split = np.asarray(eeg["split"].values).astype(str)
    train = EEGAssembly(eeg.isel(presentation=np.flatnonzero(split == "train")))
    test = EEGAssembly(eeg.isel(presentation=np.flatnonzero(split == "test")))
    started = time.perf_counter()
    fit = get_or_train_linearising(
        train,
        extractor=gabor,
        layers=["energy"],
        features=features,
        recipe=LinearisingRecipe(n_components=N_COMPONENTS),
    )
    _, test_ids = test.trials()
    predictions = fit.predict(_rows(features, test_ids))
    result = eeg_accuracy(predictions, test, test_ids)
    channels = [str(c) for c in eeg["channel_name"].values]
    times_ms = np.asarray(eeg["time"].values) * 1000
    groups = np.array([channel_group(c) for c in channels])
    rows, curves = [], {}
    for group in CHANNEL_GROUPS:
        members = groups == group
        curve = {name: getattr(result, name)[members].mean(axis=0) for name in ("accuracy", "lower", "upper")}
        curves[group] = curve
        peak = int(np.argmax(curve["accuracy"]))
        window = (times_ms >= 50) & (times_ms <= 300)
        rows.append(
            {
                "group": group,
                "channels": int(members.sum()),
                "peak_r": float(curve["accuracy"][peak]),
                "peak_ms": float(times_ms[peak]),
                "upper_ceiling_at_peak": float(curve["upper"][peak]),
                "lower_ceiling_at_peak": float(curve["lower"][peak]),
                "mean_r_50_300ms": float(curve["accuracy"][window].mean()),
                "mean_r_before_0ms": float(curve["accuracy"][times_ms < 0].mean()),
            }
        )
    table = pd.DataFrame(rows)
    out = Path(context["out_dir"])
    table.to_csv(out / "eeg_scores.csv", index=False)
    context.update(
        eeg_scores=table, eeg_accuracy=result, eeg_fit=fit, eeg_predictions_shape=predictions.shape
    )
    context["eeg_plot"] = plot_eeg(curves, times_ms, out / "eeg_r_over_time.png")
    echo(
        f"EEG: the same recipe, one OLS per training repetition (4) -> predictions {predictions.shape} "
        f"(images x repetitions x channels x times); 60 test images x 10 repetitions "
        f"({time.perf_counter() - started:.1f} s)"
    )
    shown = table.copy()
    for column in shown.columns[2:]:
        shown[column] = shown[column].map(lambda v, c=column: f"{v:.0f}" if c == "peak_ms" else f"{v:.3f}")
    echo(format_table(shown))
    echo(f"saved {out / 'eeg_scores.csv'} and {context['eeg_plot']}")


def plot_eeg(curves: dict, times_ms: np.ndarray, path: Path) -> Path:
    """r over time per channel group with NED's lower-upper ceiling band."""
    from brainbridge.examples.encoding_job import _figure, _save

    figure = _figure(8, 4.2)
    axes = figure.subplots(1, len(curves), sharey=True)
    for ax, (group, curve) in zip(axes, curves.items()):
        ax.fill_between(times_ms, curve["lower"], curve["upper"], color="0.85", label="noise ceiling")
        ax.plot(times_ms, curve["accuracy"], color="C3", lw=1.2, label="model r")
        ax.axvline(0, color="0.4", lw=0.6)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(group)
        ax.set_xlabel("time (ms)")
    axes[0].set_ylabel("r (test images)")
    axes[0].legend(fontsize=8, loc="upper right")
    figure.suptitle("EEG: linearising recipe on Gabor energy, r over time per channel group")
    return _save(figure, path)


def step_ned_export(context: dict, echo: Echo) -> None:
    """Write the models in NED's layout with pre-generated responses to the new images; read back."""
    if context.get("fmri_fits") is None or context.get("eeg_fit") is None:
        return
    from brainbridge.encoding.linearising import LinearisingModel
    from brainbridge.encoding.ned_export import export_ned_model, pregenerate_ned
    from brainbridge.examples.truth import new_images_dir
    from brainbridge.ned import NED

    ned_dir = Path(context["out_dir"]) / "ned"
    gabor = context["modalities_extractor"]
    fmri = LinearisingModel(
        card=None,
        rois=["V1"],
        subject="subj01",
        extractor=gabor,
        layers=["energy"],
        fits={"V1": context["fmri_fits"][("subj01", "V1")]},
    )
    eeg = LinearisingModel(
        card=None,
        rois=["all"],
        subject="sub-01",
        extractor=gabor,
        layers=["energy"],
        fits={"all": context["eeg_fit"]},
    )
    images = new_images_dir()
    for model, dataset in ((fmri, "brainbridge_example_nsd"), (eeg, "brainbridge_example_things_eeg")):
        export_ned_model(model, ned_dir, train_dataset=dataset, model_name="gabor_linearising")
        pregenerate_ned(
            model,
            images,
            ned_dir,
            train_dataset=dataset,
            model_name="gabor_linearising",
            imageset="brainbridge_new_images",
            progress=False,
        )
    ned = NED(str(ned_dir))
    fmri_h5, _ = ned.load_insilico_neural_responses(
        "fmri", "brainbridge_example_nsd", "gabor_linearising", "brainbridge_new_images", 1, roi="V1"
    )
    eeg_h5, _ = ned.load_insilico_neural_responses(
        "eeg", "brainbridge_example_things_eeg", "gabor_linearising", "brainbridge_new_images", 1
    )
    context["ned_dir"] = ned_dir
    context["ned_shapes"] = {"fmri": fmri_h5.shape, "eeg": eeg_h5.shape}
    fmri_h5.file.close()
    eeg_h5.file.close()
    echo(
        f"NED layout: models and pre-generated responses to the "
        f"{context['ned_shapes']['fmri'][0]} new images in "
        f"{ned_dir}; read back with brainbridge.ned.NED: fMRI {context['ned_shapes']['fmri']}, "
        f"EEG {context['ned_shapes']['eeg']}"
    )


MODALITY_STEPS = [
    ("modalities_data", step_modalities_data),
    ("fmri", step_fmri),
    ("eeg", step_eeg),
    ("ned_export", step_ned_export),
]
