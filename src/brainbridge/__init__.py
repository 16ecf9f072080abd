"""brainbridge: the data side of comparing brains with brain-inspired models."""

__version__ = "0.1.0"
