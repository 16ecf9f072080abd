"""LFP window slicing: brainbridge's lazy ``get_lfp`` vs reading the same window through pynwb.

Writes a probe LFP file in AllenSDK's layout with pynwb (``probe_<id>_lfp.nwb``: 384 channels,
1250 Hz, 240 s by default, float32, chunked 4096 x channels), then reads a 1 s window of all
channels and of 8 channels:

* ``brainbridge``: ``session.get_lfp(probe_id).sel(time=slice(t, t + 1)).values`` on an open
  session (the LFP file opened, timestamps read, the window read), and another window on the
  array already open;
* ``pynwb direct``: open the file, ``timestamps[:]``, ``searchsorted``, ``data[i0:i1]`` — the
  best a user does by hand;
* ``AllenSDK-style``: ``data[:]`` (the whole probe, as AllenSDK's ``get_lfp`` reads it) then the
  window.

Run: ``python benchmarks/ecephys_lfp.py [--seconds 240 --channels 384]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _best(fn, repeat=3):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--rate", type=float, default=1250.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import pynwb

    from brainbridge.ecephys import EcephysSession
    from brainbridge.ecephys.synthetic import write_probe_lfp, write_synthetic_session

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "session_1"
        session_path = folder / "session_1.nwb"
        rows = write_synthetic_session(
            session_path, 1, n_probes=1, channels_per_probe=8, n_units=4, extras=False
        )
        channel_ids = range(1000, 1000 + args.channels)
        t0 = time.perf_counter()
        lfp_path = folder / "probe_10_lfp.nwb"
        write_probe_lfp(
            lfp_path,
            1,
            10,
            channel_ids,
            probe_name=str(rows["probes"]["name"].iloc[0]),
            duration=args.seconds,
            rate=args.rate,
            csd=False,
        )
        print(
            f"wrote {lfp_path.stat().st_size / 1e6:.0f} MB LFP ({args.channels} channels x "
            f"{args.seconds:.0f} s x {args.rate:.0f} Hz) in {time.perf_counter() - t0:.1f} s"
        )
        t_start = args.seconds / 2

        session = EcephysSession.from_nwb(session_path)  # a user's open session
        _ = session.probes, session.invalid_times

        def ours(channels=None):
            lfp = session.get_lfp(10)  # opens the probe's LFP file, reads timestamps + channel ids
            window = lfp.sel(time=slice(t_start, t_start + 1.0))
            if channels is not None:
                window = window.isel(channel=channels)
            return window.values

        def direct(channels=None):
            with pynwb.NWBHDF5IO(str(lfp_path), "r") as io:
                series = io.read().acquisition["probe_10_lfp"]["probe_10_lfp_data"]
                times = series.timestamps[:]
                i0, i1 = np.searchsorted(times, [t_start, t_start + 1.0], side="left")
                i1 = np.searchsorted(times, t_start + 1.0, side="right")
                data = series.data[i0:i1]
                return data if channels is None else data[:, channels]

        def whole():
            with pynwb.NWBHDF5IO(str(lfp_path), "r") as io:
                series = io.read().acquisition["probe_10_lfp"]["probe_10_lfp_data"]
                data, times = series.data[:], series.timestamps[:]
                keep = (times >= t_start) & (times <= t_start + 1.0)
                return data[keep]

        eight = list(range(0, args.channels, args.channels // 8))[:8]
        ours()  # first use in the process: xarray's one-time imports of its array backends
        a, t_ours = _best(ours)
        b, t_direct = _best(direct)
        c, t_whole = _best(whole, repeat=1)
        assert np.array_equal(a, b) and np.array_equal(a, c)
        a8, t_ours8 = _best(lambda: ours(eight))
        b8, t_direct8 = _best(lambda: direct(eight))
        assert np.array_equal(a8, b8)
        lfp = session.get_lfp(10)
        _, t_open_window = _best(lambda: lfp.sel(time=slice(t_start + 2, t_start + 3)).values)
        session.close()

    print(f"{'1 s window':40s} {'time (ms)':>10s} {'vs ours':>8s}")
    print(f"{'brainbridge get_lfp, all channels':40s} {1000 * t_ours:10.1f} {1.0:8.2f}")
    print(f"{'pynwb direct, all channels':40s} {1000 * t_direct:10.1f} {t_direct / t_ours:8.2f}")
    print(f"{'AllenSDK-style whole read, all channels':40s} {1000 * t_whole:10.1f} {t_whole / t_ours:8.2f}")
    print(f"{'brainbridge get_lfp, 8 channels':40s} {1000 * t_ours8:10.1f} {1.0:8.2f}")
    print(f"{'pynwb direct, 8 channels':40s} {1000 * t_direct8:10.1f} {t_direct8 / t_ours8:8.2f}")
    print(f"{'brainbridge, another window (array open)':40s} {1000 * t_open_window:10.1f}")


if __name__ == "__main__":
    main()
