"""``brainio.stimuli`` -> :mod:`brainbridge.stimuli`."""

from brainbridge.stimuli import StimulusSet

__all__ = ["StimulusSet"]
