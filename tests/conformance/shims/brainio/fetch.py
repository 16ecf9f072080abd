"""``brainio.fetch`` -> :mod:`brainbridge.fetch`."""

from brainbridge.config import cache_dir as get_local_data_path
from brainbridge.fetch import fetch_file, sha1_hash

__all__ = ["fetch_file", "get_local_data_path", "sha1_hash"]
