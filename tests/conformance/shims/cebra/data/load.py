"""``cebra.data.load`` -> :mod:`brainbridge.data.load`."""

from _missing import missing

from brainbridge.data.load import load_data as load

read_hdf = missing("cebra.data.load.read_hdf", "CEBRA's private pandas.read_hdf wrapper")

__all__ = ["load", "read_hdf"]
