"""Where the outputs of fMRI and EEG/MEG assemblies lie: ROI membership of voxels and the
channel groups of a 10-10 montage.

One owner for both rules, read by :mod:`brainbridge.assemblies` (which re-exports them), the
quick plots of :mod:`brainbridge.assembly_plots`, the web app and the examples.

* a :class:`~brainbridge.assemblies.VoxelAssembly` says which ROIs a voxel belongs to with one
  boolean voxel coordinate per ROI, ``roi_<name>`` (:data:`ROI_PREFIX`, :func:`roi_names`);
* an EEG channel's group (occipital, parietal, central, frontal) follows from its 10-10 name
  (:data:`CHANNEL_GROUPS`, :func:`channel_group`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["CHANNEL_GROUPS", "OTHER_CHANNELS", "ROI_PREFIX", "channel_group", "roi_names"]

#: prefix of the boolean voxel coordinates that say which ROIs a voxel belongs to
ROI_PREFIX = "roi_"

#: EEG channel groups by 10-10 name prefix (a channel's group: :func:`channel_group`)
CHANNEL_GROUPS = {
    "occipital": ("O", "PO"),
    "parietal": ("P", "CP", "TP"),
    "central": ("C", "FC", "T", "FT"),
    "frontal": ("F", "AF", "Fp"),
}
#: the group of a channel whose name has none of the prefixes (MEG sensors, EOG)
OTHER_CHANNELS = "other"


def roi_names(assembly: xr.DataArray) -> list[str]:
    """The ROIs of a voxel assembly: the names of its boolean ``roi_<name>`` coordinates, in order."""
    return [str(name)[len(ROI_PREFIX) :] for name in assembly.coords if str(name).startswith(ROI_PREFIX)]


def channel_group(name: str) -> str:
    """The :data:`CHANNEL_GROUPS` group of a 10-10 channel name, or :data:`OTHER_CHANNELS`.

    The prefix must be followed by digits or ``z`` (midline) only, and the longest matching
    prefix wins: ``PO7`` is occipital (not parietal), ``Fp1`` frontal, ``FT9`` central.
    """
    best, length = OTHER_CHANNELS, 0
    for group, prefixes in CHANNEL_GROUPS.items():
        for prefix in prefixes:
            whole = name.startswith(prefix) and name[len(prefix) :].rstrip("0123456789") in ("", "z")
            if whole and len(prefix) > length:
                best, length = group, len(prefix)
    return best
