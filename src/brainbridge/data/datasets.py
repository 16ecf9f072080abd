"""Datasets: single-session tensors, multi-session collections and xCEBRA datasets.

Same classes, constructors and indexing semantics as ``cebra.data`` (``Dataset``,
``SingleSessionDataset``, ``TensorDataset``, ``MultiSessionDataset``, ``DatasetCollection``,
``UnifiedDataset``, ``DatasetxCEBRA``). Differences:

* ``expand_index_in_trial`` is vectorised (CEBRA loops in Python);
* label lengths are checked against the neural data; discrete labels of any integer dtype;
* ``TensorDataset.load_batch`` gathers reference, positive and negative windows with one
  indexed copy (optionally into pinned memory) instead of three.
"""

from __future__ import annotations

import abc
import types
import warnings
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, TypeVar, overload

import numpy as np
import torch

from brainbridge.data.datatypes import Batch, BatchIndex, Offset
from brainbridge.data.errors import DatasetError, DatasetTypeError, MissingIndexError

__all__ = [
    "Dataset",
    "DatasetCollection",
    "DatasetxCEBRA",
    "MultiSessionDataset",
    "SingleSessionDataset",
    "TensorDataset",
    "UnifiedDataset",
]


def _as_index_tensor(index, device=None) -> torch.Tensor:
    if isinstance(index, torch.Tensor):
        tensor = index
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(np.asarray(index), dtype=np.int64))
    if tensor.dtype != torch.int64:
        tensor = tensor.long()
    if device is not None and tensor.device != torch.device(device):
        tensor = tensor.to(device)
    return tensor


def _expand(index: torch.Tensor, offset: Offset, lo, hi) -> torch.Tensor:
    """``clamp(index, lo, hi)[:, None] + arange(-left, right)`` (``lo``/``hi`` scalars or tensors)."""
    window = torch.arange(-offset.left, offset.right, device=index.device)
    if isinstance(lo, torch.Tensor):
        index = torch.minimum(torch.maximum(index, lo), hi)
    else:
        index = torch.clamp(index, lo, hi)
    return index[:, None] + window[None, :]


_warned_pinning = False


def _can_pin() -> bool:
    global _warned_pinning
    if torch.cuda.is_available():
        return True
    if not _warned_pinning:
        warnings.warn("pin_memory=True ignored: CUDA is not available", RuntimeWarning, stacklevel=3)
        _warned_pinning = True
    return False


def _gather_rows(data: torch.Tensor, rows: torch.Tensor, pin_memory: bool = False) -> torch.Tensor:
    """``data[rows]`` for a 2-D tensor, as one copy (into pinned memory when asked and possible).

    On the CPU, numpy's ``take`` is several times faster than torch's ``index_select`` for this
    row gather (and it shares the tensor's memory, so nothing else is copied).
    """
    if data.device.type != "cpu" or data.requires_grad:
        return data.index_select(0, rows.to(data.device))
    shape = (len(rows), *data.shape[1:])
    if pin_memory and _can_pin():
        out = torch.empty(shape, dtype=data.dtype, pin_memory=True)
    else:
        out = torch.empty(shape, dtype=data.dtype)
    # mode="clip" lets numpy write straight into ``out`` ("raise" buffers); rows are in range
    np.take(data.numpy(), rows.numpy(), axis=0, out=out.numpy(), mode="clip")
    return out


_DatasetT = TypeVar("_DatasetT", bound="Dataset")


class Dataset(abc.ABC):
    """Abstract base class of every dataset.

    Attributes
    ----------
    offset : Offset
        Samples left/right of an index that a sample covers (``Offset(0, 1)`` by default; set
        it with :meth:`configure_for` or directly).
    device : str
        Where the data tensors live; loaders follow their dataset's device.
    """

    def __init__(self, device: str | torch.device = "cpu"):
        self.offset: Offset = Offset(0, 1)
        self.device = str(device)

    @property
    @abc.abstractmethod
    def input_dimension(self) -> int:
        """Number of input features (neurons) of a sample."""

    @property
    def continuous_index(self) -> torch.Tensor | None:
        """The continuous index ``(N, d)``, if available."""
        return None

    @property
    def discrete_index(self) -> torch.Tensor | None:
        """The discrete index ``(N,)``, if available."""
        return None

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    def expand_index(self, index) -> torch.Tensor:
        """Windows of ``len(self.offset)`` samples around each index.

        ``expanded[i, j] = clamp(index[i], left, N - right) + j - left``: edge indices are moved
        inward (as in CEBRA), never rejected.

        Parameters
        ----------
        index : torch.Tensor or array-like of int, shape (B,)

        Returns
        -------
        torch.Tensor, shape (B, len(offset)), int64
        """
        index = _as_index_tensor(index)
        return _expand(index, self.offset, self.offset.left, len(self) - self.offset.right)

    def expand_index_in_trial(self, index, trial_ids, trial_borders) -> torch.Tensor:
        """Like :meth:`expand_index`, but each window stays inside its sample's trial.

        Parameters
        ----------
        index : torch.Tensor or array-like of int, shape (B,)
        trial_ids : torch.Tensor or array-like of int, shape (N,)
            The trial of every sample of the dataset.
        trial_borders : torch.Tensor or array-like of int, shape (num_trials + 1,)
            First sample of each trial, then ``N``.

        Returns
        -------
        torch.Tensor, shape (B, len(offset)), int64
            Index ``i`` of trial ``t`` is clamped to ``[borders[t] + left, borders[t+1] - right]``.
        """
        index = _as_index_tensor(index)
        trial_ids = _as_index_tensor(trial_ids, index.device)
        borders = _as_index_tensor(trial_borders, index.device)
        trial = trial_ids[index]
        lo = borders[trial] + self.offset.left
        hi = borders[trial + 1] - self.offset.right
        if bool((hi < lo).any()):
            raise DatasetError(f"some trials are shorter than the window {self.offset}")
        return _expand(index, self.offset, lo, hi)

    @abc.abstractmethod
    def __getitem__(self, index) -> torch.Tensor:
        """Samples at the given indices, shape ``(len(index), input_dimension, len(offset))``."""

    @abc.abstractmethod
    def load_batch(self, index: BatchIndex) -> Batch | list[Batch]:
        """The data at the indices of a :class:`BatchIndex`."""

    def configure_for(self, model) -> None:
        """Set :attr:`offset` from a model's ``get_offset()``."""
        self.offset = model.get_offset()

    def to(self: _DatasetT, device: str | torch.device) -> _DatasetT:
        """Move every tensor attribute (and nested dataset or module) to ``device``, in place; return self.

        As CEBRA's ``HasDevice.to``: subclasses that keep their data in tensor attributes need
        nothing more.
        """
        self.device = str(torch.device(device)) if not isinstance(device, str) else device
        for name, value in list(vars(self).items()):
            if isinstance(value, torch.Tensor | torch.nn.Module):
                setattr(self, name, value.to(device))
            elif isinstance(value, Dataset) and value is not self:
                value.to(device)
        return self


class SingleSessionDataset(Dataset):
    """A dataset with one data matrix ``(N, D)`` and labels over the same N samples."""

    def load_batch(self, index: BatchIndex) -> Batch:
        """``Batch(self[reference], self[positive], self[negative])``."""
        return Batch(
            reference=self[index.reference],
            positive=self[index.positive],
            negative=self[index.negative],
        )


def _check_length(name: str, array: torch.Tensor | None, n: int) -> None:
    if array is not None and len(array) != n:
        raise DatasetError(f"{name} has {len(array)} samples but the neural data has {n}")


class TensorDataset(SingleSessionDataset):
    """A dataset backed by in-memory tensors, with continuous and/or discrete labels.

    Parameters
    ----------
    neural : torch.Tensor or numpy.ndarray, shape (N, D), float
        Neural activity over time (cast to float32; numpy float32 shares memory).
    continuous : torch.Tensor or numpy.ndarray, shape (N,) or (N, d), float, optional
        Continuous behaviour variables (cast to float32).
    discrete : torch.Tensor or numpy.ndarray, shape (N,), integer or bool, optional
        Discrete labels (cast to int64; any values, gaps allowed).
    offset : Offset or int, default Offset(0, 1)
    device : str, default "cpu"

    Raises
    ------
    DatasetTypeError
        Neural data that is not floating point, or discrete labels that are not integers.
    DatasetError
        Neither label given, or labels whose length differs from the neural data.

    Examples
    --------
    >>> import torch
    >>> ds = TensorDataset(torch.randn(100, 30), continuous=torch.randn(100, 2),
    ...                    discrete=torch.randint(0, 5, (100,)))
    >>> ds[torch.tensor([0, 5])].shape
    torch.Size([2, 30, 1])
    """

    # assembly metadata, set by from_assembly and the bridges (declared for the type checker)
    sample_dims: list[Hashable]
    discrete_categories: list[Any] | None
    trial_ids: np.ndarray | None
    trial_borders: np.ndarray | None

    def __init__(
        self,
        neural,
        continuous=None,
        discrete=None,
        offset: Offset | int = Offset(0, 1),
        device: str | torch.device = "cpu",
    ):
        super().__init__(device=device)
        self.neural = self._to_tensor(neural, "float", name="neural").float()
        if self.neural.ndim != 2:
            raise DatasetError(
                f"neural data must be 2-D (samples x neurons), got shape {tuple(self.neural.shape)}"
            )
        cont = self._to_tensor(continuous, "float", name="continuous")
        self.continuous = None if cont is None else cont.float()
        disc = self._to_tensor(discrete, "int", name="discrete")
        if disc is not None:
            if disc.ndim == 2 and disc.shape[1] == 1:
                disc = disc[:, 0]
            if disc.ndim != 1:
                raise DatasetError(f"discrete labels must be 1-D, got shape {tuple(disc.shape)}")
            disc = disc.long()
        self.discrete = disc
        if self.continuous is None and self.discrete is None:
            raise DatasetError("You have to pass at least one of the arguments 'continuous' or 'discrete'.")
        _check_length("continuous", self.continuous, len(self.neural))
        _check_length("discrete", self.discrete, len(self.neural))
        self.offset = offset if isinstance(offset, Offset) else Offset(offset)
        #: gather batches into pinned (page-locked) memory for fast host-to-GPU copies
        self.pin_memory = False
        self.to(device)

    @overload
    @staticmethod
    def _to_tensor(array: None, check_dtype: str | None = None, name: str = "array") -> None: ...

    @overload
    @staticmethod
    def _to_tensor(array: Any, check_dtype: str | None = None, name: str = "array") -> torch.Tensor: ...

    @staticmethod
    def _to_tensor(array: Any, check_dtype: str | None = None, name: str = "array") -> torch.Tensor | None:
        """``array`` as a tensor (numpy shares memory), its dtype checked (CEBRA's signature).

        ``check_dtype``: ``None`` (no check), ``"float"`` or ``"int"`` (integer or bool). Floats
        come back as float32 and integers as int64 (bool stays bool), as in CEBRA.

        Raises
        ------
        DatasetTypeError
            The dtype is not the one asked for (a ``TypeError``).
        DatasetError
            ``check_dtype`` is not ``None``, ``"int"`` or ``"float"`` (a ``ValueError``).
        """
        if check_dtype not in (None, "int", "float"):
            raise DatasetError(f"check_dtype must be 'int' or 'float', got {check_dtype!r}")
        if array is None:
            return None
        if isinstance(array, np.ndarray):
            if array.dtype == np.float64 and check_dtype == "float":
                # one cast here, so that the float32 tensor can share it
                array = array.astype(np.float32)
            tensor = torch.from_numpy(np.ascontiguousarray(array))
        elif isinstance(array, torch.Tensor):
            tensor = array
        else:
            tensor = torch.as_tensor(np.asarray(array))
        if check_dtype == "float" and not tensor.is_floating_point():
            raise DatasetTypeError(f"{name} has dtype {tensor.dtype}; a floating-point dtype is required.")
        if check_dtype == "int" and (tensor.is_floating_point() or tensor.is_complex()):
            raise DatasetTypeError(
                f"{name} has dtype {tensor.dtype}; an integer (or bool) dtype is required."
            )
        # standard dtypes, as CEBRA: float32 and int64 (no copy when already so)
        if tensor.is_floating_point():
            return tensor.float()
        if not tensor.is_complex() and tensor.dtype != torch.bool:
            return tensor.long()
        return tensor

    def to(self, device: str | torch.device) -> TensorDataset:
        """Move the data tensors to ``device`` (in place); return self."""
        self.device = str(device)
        self.neural = self.neural.to(device)
        if self.continuous is not None:
            self.continuous = self.continuous.to(device)
        if self.discrete is not None:
            self.discrete = self.discrete.to(device)
        return self

    @property
    def input_dimension(self) -> int:
        return int(self.neural.shape[1])

    @property
    def continuous_index(self) -> torch.Tensor:
        """The continuous labels (:class:`MissingIndexError`, a ``NotImplementedError``, when absent)."""
        if self.continuous is None:
            raise MissingIndexError("this dataset has no continuous index: give continuous= when building it")
        return self.continuous

    @property
    def discrete_index(self) -> torch.Tensor:
        """The discrete labels (:class:`MissingIndexError`, a ``NotImplementedError``, when absent)."""
        if self.discrete is None:
            raise MissingIndexError("this dataset has no discrete index: give discrete= when building it")
        return self.discrete

    def __len__(self) -> int:
        return len(self.neural)

    def __getitem__(self, index) -> torch.Tensor:
        return self.gather(index, pin_memory=False)

    def gather(self, index, pin_memory: bool | None = None) -> torch.Tensor:
        """Windows around ``index`` in one indexed copy: ``(len(index), D, len(offset))``.

        Parameters
        ----------
        index : tensor or array of int
        pin_memory : bool, optional
            Copy into page-locked memory (CPU data and CUDA available only). Defaults to
            :attr:`pin_memory`.
        """
        index = _as_index_tensor(index, self.neural.device)
        flat = self.expand_index(index).reshape(-1)
        pin = self.pin_memory if pin_memory is None else pin_memory
        out = _gather_rows(self.neural, flat, pin)
        return out.view(len(index), len(self.offset), -1).transpose(2, 1)

    def load_batch(self, index: BatchIndex) -> Batch:
        """Reference, positive and negative windows, gathered with a single indexed copy."""
        parts = [
            _as_index_tensor(i, self.neural.device) for i in (index.reference, index.positive, index.negative)
        ]
        sizes = [len(p) for p in parts]
        data = self.gather(torch.cat(parts))
        reference, positive, negative = torch.split(data, sizes)
        return Batch(reference=reference, positive=positive, negative=negative)

    def __repr__(self) -> str:
        labels = []
        if self.continuous is not None:
            labels.append(f"continuous={tuple(self.continuous.shape)}")
        if self.discrete is not None:
            labels.append(f"discrete={tuple(self.discrete.shape)}")
        return f"TensorDataset(neural={tuple(self.neural.shape)}, {', '.join(labels)}, offset={self.offset})"

    @classmethod
    def from_assembly(
        cls,
        assembly,
        continuous=None,
        discrete=None,
        *,
        neuroid_dim: str = "neuroid",
        sample_dims=None,
        offset=None,
        device: str = "cpu",
    ) -> TensorDataset:
        """A dataset from a brainbridge assembly.

        See :func:`brainbridge.data.bridges.dataset_from_assembly`.
        """
        from brainbridge.data.assembly_arrays import arrays_from_assembly, encode_labels, label_names

        cont_names, disc_names = label_names(continuous), label_names(discrete)
        if not cont_names and not disc_names:
            raise DatasetError("name at least one continuous or discrete coordinate to use as labels")
        neural, cont, disc, trial_ids, borders, dims = arrays_from_assembly(
            assembly, cont_names, disc_names, neuroid_dim, sample_dims
        )
        categories = None
        if disc is not None:
            (disc,), categories = encode_labels([disc])
        dataset = cls(
            neural,
            continuous=cont,
            discrete=disc,
            offset=Offset(0, 1) if offset is None else offset,
            device=device,
        )
        dataset.sample_dims = dims
        dataset.discrete_categories = categories
        dataset.trial_ids = trial_ids
        dataset.trial_borders = borders
        return dataset


class MultiSessionDataset(Dataset):
    """A dataset spanning several sessions with a shared label space.

    The feature dimension (number of neurons) may differ between sessions; the labels' dimension
    must match.
    """

    @property
    @abc.abstractmethod
    def num_sessions(self) -> int:
        """Number of sessions."""

    @property
    def input_dimension(self) -> int:
        raise DatasetError(
            "a multi-session dataset has one input dimension per session; use get_input_dimension(session_id)"
        )

    @abc.abstractmethod
    def get_input_dimension(self, session_id: int) -> int:
        """The feature dimension of one session."""

    @abc.abstractmethod
    def get_session(self, session_id: int) -> SingleSessionDataset:
        """The dataset of one session."""

    @property
    def session_lengths(self) -> list[int]:
        """Number of samples of each session."""
        return [len(session) for session in self.iter_sessions()]

    def __len__(self) -> int:
        return int(sum(self.session_lengths))

    def iter_sessions(self) -> Iterator[SingleSessionDataset]:
        """The sessions, in order."""
        for i in range(self.num_sessions):
            yield self.get_session(i)

    def __getitem__(self, args) -> torch.Tensor:
        """``dataset[session_id, index]``: samples of one session."""
        session_id, index = args
        return self.get_session(session_id)[index]

    def load_batch(self, index: BatchIndex) -> list[Batch]:
        """One :class:`Batch` per session (``index.reference[s]`` etc.), sharing the permutation."""
        batches = []
        for session_id, session in enumerate(self.iter_sessions()):
            batch = session.load_batch(
                BatchIndex(
                    reference=index.reference[session_id],
                    positive=index.positive[session_id],
                    negative=index.negative[session_id],
                )
            )
            batch.index = index.index
            batch.index_reversed = index.index_reversed
            batches.append(batch)
        return batches

    def configure_for(self, model) -> None:
        """Set each session's offset from ``model[i]`` (a ``torch.nn.ModuleList`` or sequence)."""
        if len(model) != self.num_sessions:
            raise DatasetError(
                f"the model has {len(model)} sub-models but the dataset has {self.num_sessions} sessions"
            )
        for i, session in enumerate(self.iter_sessions()):
            session.configure_for(model[i])

    @property
    def offset(self) -> Offset:
        """The offset shared by every session (setting it sets every session's)."""
        offsets = {s.offset for s in self.iter_sessions()} if hasattr(self, "_datasets") else set()
        if len(offsets) > 1:
            raise DatasetError(f"the sessions have different offsets: {sorted(map(repr, offsets))}")
        return offsets.pop() if offsets else self._offset

    @offset.setter
    def offset(self, value: Offset) -> None:
        self._offset = value
        if hasattr(self, "_datasets"):
            for session in self.iter_sessions():
                session.offset = value


def _has_label(obj, key: str) -> bool:
    try:
        return getattr(obj, key, None) is not None
    except NotImplementedError:
        return False


class DatasetCollection(MultiSessionDataset):
    """A multi-session dataset made of single-session datasets.

    Parameters
    ----------
    *datasets : SingleSessionDataset
        Two or more datasets, or one generator of datasets. A label type (continuous or
        discrete) is kept only if every session has it.

    Raises
    ------
    DatasetError
        No dataset, one dataset that is not a generator, sessions on different devices, no label
        type shared by every session, or continuous indexes of different dimensions.
    """

    discrete_categories: list[Any] | None  # set by the bridges from assemblies

    def __init__(self, *datasets: SingleSessionDataset | Iterator[SingleSessionDataset]):
        sessions = self._unpack(datasets)
        devices = {str(d.device) for d in sessions}
        if len(devices) != 1:
            raise DatasetError(f"Datasets are not all on the same device: {sorted(devices)}")
        # the base initialiser sets a default offset: run it before the sessions are attached
        # so that it does not overwrite theirs
        super().__init__(device=devices.pop())
        self._datasets: list[SingleSessionDataset] = sessions
        continuous = all(_has_label(s, "continuous_index") for s in self._datasets)
        discrete = all(_has_label(s, "discrete_index") for s in self._datasets)
        if not (continuous or discrete):
            raise DatasetError(
                "The provided datasets need to define either continuous or discrete indices, or both "
                f"(continuous: {continuous}; discrete: {discrete}); every dataset must define the one used."
            )
        self._cindex: torch.Tensor | None = None
        self._dindex: torch.Tensor | None = None
        if continuous:
            # every session has one (checked above)
            cindexes = [index for s in self._datasets if (index := s.continuous_index) is not None]
            dims = {tuple(index.shape[1:]) for index in cindexes}
            if len(dims) != 1:
                raise DatasetError(f"the sessions' continuous indexes differ in shape: {sorted(dims)}")
            self._cindex = torch.cat(cindexes, dim=0)
        if discrete:
            self._dindex = torch.cat(
                [index for s in self._datasets if (index := s.discrete_index) is not None], dim=0
            )

    @staticmethod
    def _unpack(datasets: Sequence[Any]) -> list[SingleSessionDataset]:
        if len(datasets) == 0:
            raise DatasetError("Need to supply at least one dataset.")
        if len(datasets) == 1:
            (only,) = datasets
            if isinstance(only, types.GeneratorType):
                return list(only)
            raise DatasetError(
                "You need to specify either a single generator, or multiple SingleSessionDataset instances."
            )
        return list(datasets)

    @property
    def num_sessions(self) -> int:
        return len(self._datasets)

    def to(self, device: str | torch.device) -> DatasetCollection:
        """Move every session and the concatenated labels to ``device`` (in place); return self."""
        for session in self._datasets:
            session.to(device)
        return super().to(device)

    def get_input_dimension(self, session_id: int) -> int:
        return self.get_session(session_id).input_dimension

    def get_session(self, session_id: int) -> SingleSessionDataset:
        return self._datasets[session_id]

    @property
    def continuous_index(self) -> torch.Tensor | None:
        """Continuous labels of all sessions, concatenated."""
        return self._cindex

    @property
    def discrete_index(self) -> torch.Tensor | None:
        """Discrete labels of all sessions, concatenated."""
        return self._dindex

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_sessions} sessions, lengths={self.session_lengths})"


class UnifiedDataset(DatasetCollection):
    """Sessions treated as one pseudo-session: batches concatenated along neurons.

    Every session is sampled at its own indices (see :class:`~brainbridge.data.UnifiedLoader`)
    and the windows are concatenated, giving ``(B, sum of D_s, len(offset))``.
    """

    @property
    def input_dimension(self) -> int:
        """Sum of the sessions' input dimensions."""
        return int(sum(self.get_input_dimension(i) for i in range(self.num_sessions)))

    # as CEBRA's UnifiedDataset: one batch of every session's windows, not one per session
    def load_batch(self, index: BatchIndex) -> Batch:  # type: ignore[override]
        """One batch whose samples concatenate the sessions' windows along the neuron axis."""
        batches = super().load_batch(index)
        return Batch(
            reference=torch.cat([b.reference for b in batches], dim=1),
            positive=torch.cat([b.positive for b in batches], dim=1),
            negative=torch.cat([b.negative for b in batches], dim=1),
        )

    def configure_for(self, model) -> None:
        """Set every session's offset from one model's ``get_offset()``."""
        self.offset = model.get_offset()


class DatasetxCEBRA:
    """Dataset for xCEBRA models: neural data plus named label arrays.

    Parameters
    ----------
    neural : torch.Tensor or numpy.ndarray, shape (N, D)
    device : str, default "cpu"
    **labels : torch.Tensor or numpy.ndarray
        Named labels over the same N samples.
    """

    def __init__(self, neural, device: str | torch.device = "cpu", **labels):
        self.device = str(device)
        tensor = TensorDataset._to_tensor(neural, "float", name="neural")
        self.neural = tensor.float().to(device)
        self.labels = {}
        for name, value in labels.items():
            value = TensorDataset._to_tensor(value, None, name=name)
            _check_length(f"label {name!r}", value, len(self.neural))
            self.labels[name] = value.to(device)
        self.offset = Offset(0, 1)

    @property
    def input_dimension(self) -> int:
        """Number of neurons."""
        return int(self.neural.shape[1])

    def __len__(self) -> int:
        return len(self.neural)

    def configure_for(self, model) -> None:
        """Set :attr:`offset` from a model's ``get_offset()``."""
        self.offset = model.get_offset()

    def expand_index(self, index) -> torch.Tensor:
        """See :meth:`Dataset.expand_index`."""
        index = _as_index_tensor(index)
        return _expand(index, self.offset, self.offset.left, len(self) - self.offset.right)

    def __getitem__(self, index) -> torch.Tensor:
        index = _as_index_tensor(index, self.neural.device)
        return self.neural[self.expand_index(index)].transpose(2, 1)

    def load_batch_supervised(self, index: BatchIndex, labels_supervised: Sequence[str]) -> Batch:
        """Reference windows and the named labels at the reference indices."""
        if index.positive is not None or index.negative is not None:
            raise DatasetError("a supervised batch index has only reference indices")
        missing = [name for name in labels_supervised if name not in self.labels]
        if missing:
            raise DatasetError(f"unknown labels {missing}; available: {sorted(self.labels)}")
        ref = _as_index_tensor(index.reference, self.neural.device)
        return Batch(
            reference=self[ref],
            positive=[self.labels[name][ref] for name in labels_supervised],
            negative=None,
        )

    def load_batch_contrastive(self, index: BatchIndex) -> Batch:
        """Reference and negative windows, and one positive window tensor per positive index set."""
        if not isinstance(index.positive, list | tuple):
            raise DatasetError("a contrastive xCEBRA batch index needs a list of positive index tensors")
        return Batch(
            reference=self[index.reference],
            positive=[self[idx] for idx in index.positive],
            negative=self[index.negative],
        )
