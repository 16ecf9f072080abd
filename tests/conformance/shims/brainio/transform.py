"""``brainio.transform``: BrainIO's assembly-subsetting helpers; brainbridge has no counterpart."""

from _missing import missing

subset = missing(
    "brainio.transform.subset",
    "Brain-Score's subset-by-coordinates helper; brainbridge offers select() and align() instead",
)
index_efficient = missing("brainio.transform.index_efficient", "a private helper of brainio.transform.subset")

__all__ = ["index_efficient", "subset"]
