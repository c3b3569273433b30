"""What every generator shares: training config, span activations and losses, saving.

Also the validation score used for early stopping and conditional sampling by rejection.

A saved model is a folder: ``model.safetensors`` (the networks' tensors), ``encoder.json`` (the
:class:`~synth.models.encoding.TableEncoder`) and ``model.json`` (class, config, format version,
loss history). Loading reads tensors with ``safetensors`` and JSON only, so an untrusted folder
cannot run code.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synth.config.train import TrainConfig
from synth.errors import InvalidDataError, NotFittedError
from synth.io import files
from synth.models.encoding import ColumnSpec, Span, TableEncoder
from synth.stats.fidelity import column_shape, sdtypes

try:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load as _load_tensors
    from safetensors.torch import save as save_tensors
    from torch.nn import functional as nnf
except ImportError as exc:  # pragma: no cover - the ml extra is installed by bin/bootstrap
    from synth.errors import SetupError

    raise SetupError("synth.models needs torch and safetensors: install the `ml` extra") from exc

log = logging.getLogger(__name__)

MODEL_FORMAT_VERSION = 1
WEIGHTS_FILE, ENCODER_FILE, MODEL_FILE = "model.safetensors", "encoder.json", "model.json"
OPTIMIZER_FILE, OPTIMIZER_META = "optimizer.safetensors", "optimizer.json"


def load_tensors(data: bytes, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file's bytes, on ``device``."""
    tensors = _load_tensors(data)
    return tensors if device == "cpu" else {k: t.to(device) for k, t in tensors.items()}


@dataclass(frozen=True)
class EpochLog:
    """One epoch of training: mean losses, the validation score when computed, seconds."""

    epoch: int
    losses: dict[str, float]
    validation_score: float | None
    seconds: float


def activate(
    raw: torch.Tensor,
    spans: Sequence[Span],
    *,
    tau: float = 0.2,
    gumbel: torch.Generator | None = None,
    hard: bool = False,
) -> torch.Tensor:
    """Apply each span's activation: ``tanh`` for scalars, (Gumbel-)softmax for groups.

    With ``gumbel`` (a seeded generator), discrete groups use the Gumbel-softmax with temperature
    ``tau`` (``hard`` for one-hot samples); share vectors always use a plain softmax.
    """
    out, start = [], 0
    for span in spans:
        block = raw[:, start : start + span.dim]
        start += span.dim
        if span.activation == "tanh":
            out.append(torch.tanh(block))
        elif span.discrete and gumbel is not None:
            u = torch.rand(block.shape, generator=gumbel).to(block.device)
            noise = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
            soft = torch.softmax((block + noise) / tau, dim=1)
            if hard:
                index = soft.argmax(dim=1, keepdim=True)
                soft = torch.zeros_like(soft).scatter_(1, index, 1.0) - soft.detach() + soft
            out.append(soft)
        else:
            out.append(torch.softmax(block, dim=1))
    return torch.cat(out, dim=1)


def span_losses(
    raw: torch.Tensor,
    target: torch.Tensor,
    spans: Sequence[Span],
    log_sigma: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reconstruction loss summed over spans, mean over rows.

    ``tanh`` spans: squared error of ``tanh(raw)`` (with ``log_sigma``, one value per ``tanh``
    span, the Gaussian negative log-likelihood with that learned spread); discrete groups:
    cross-entropy with the one-hot target; share vectors: cross-entropy with the target
    distribution.
    """
    total = raw.new_zeros(())
    start, scalar = 0, 0
    for span in spans:
        r, t = raw[:, start : start + span.dim], target[:, start : start + span.dim]
        start += span.dim
        if span.activation == "tanh":
            error = ((torch.tanh(r) - t) ** 2).sum(dim=1).mean()
            if log_sigma is not None:
                ls = log_sigma[scalar]
                error = error / (2 * torch.exp(2 * ls)) + ls
            scalar += 1
            total = total + error
        else:
            total = total + -(t * nnf.log_softmax(r, dim=1)).sum(dim=1).mean()
    return total


def shape_score(real: pd.DataFrame, synth: pd.DataFrame, specs: Sequence[ColumnSpec]) -> float:
    """Mean column-shape score (KS / TV complements) over the encoded columns.

    The cheap validation score used for early stopping.
    """
    # a map column has no single-column shape (sdtypes leaves it out); its keys are scored
    # elsewhere
    scores = [
        column_shape(real[name], synth[name], sdtype) for name, sdtype in sdtypes(specs).items()
    ]
    return float(np.mean(scores)) if scores else float("nan")


class TrainableModel(ABC):
    """What the training loop drives: networks, epochs, optimizers, checkpoints, loss history.

    Networks are built for a fitted encoder; checkpoints are ``save`` / ``load`` plus the
    optimizer state.

    :class:`Synthesizer` (profile rows) and :class:`synth.models.sequence.EventSequenceModel`
    (event sequences) both are one, so every training backend trains both the same way.
    """

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[TrainableModel]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            TrainableModel.registry[cls.name] = cls

    def __init__(self, train: TrainConfig | None = None) -> None:
        self.train = train or TrainConfig()
        self.encoder: TableEncoder | None = None
        self.history: list[EpochLog] = []
        self.device = torch.device(self.train.device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # -- subclasses -------------------------------------------------------------------------------
    @abstractmethod
    def _build(self, width: int, spans: list[Span]) -> None:
        """Create the networks for an encoded width."""

    @abstractmethod
    def _train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One pass over ``data`` (encoded rows on the device); return mean losses."""

    @abstractmethod
    def _modules(self) -> dict[str, torch.nn.Module]:
        """The networks whose ``state_dict`` s are saved, by name."""

    @abstractmethod
    def _optimized(self) -> dict[str, list[str]]:
        """For each of :attr:`optimizers`, the names of the modules whose parameters it steps."""

    @abstractmethod
    def _config(self) -> dict[str, Any]:
        """The model's own hyperparameters (JSON)."""

    # -- what the trainer drives (synth.train runs these on every backend) -----------------------
    def setup(self, encoder: TableEncoder) -> TrainableModel:
        """Take a fitted encoder and build fresh networks and optimizers for it (seeded)."""
        self.encoder = encoder
        self._build(encoder.width, encoder.spans)
        return self

    def encode(self, table: pd.DataFrame) -> torch.Tensor:
        """Rows encoded with the model's encoder, as a float32 tensor on the model's device."""
        if self.encoder is None:
            raise NotFittedError(f"{self.name}: call setup(encoder) or fit() first")
        return torch.from_numpy(self.encoder.transform(table)).to(self.device)

    def train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One pass over ``data`` (encoded rows, as :meth:`encode` returns); mean losses."""
        if self.encoder is None:
            raise NotFittedError(f"{self.name}: call setup(encoder) or fit() first")
        # layers that draw from torch's global generator (dropout) are seeded from ``rng`` too,
        # so an epoch is a function of (weights, optimizer state, data, rng): resumable exactly
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=rng)))
        return self._train_epoch(data.to(self.device), rng)

    def validation_loss(self, data: torch.Tensor) -> float:
        """One number, lower is better, for early stopping in the ``train`` stage's loop.

        Models without one say so: the stage does not validate them.
        """
        raise InvalidDataError(
            f"{self.name}: the train stage's early stopping needs a validation loss, which this "
            "model does not define; set its validation_fraction to 0"
        )

    def optimizer_parameters(self) -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
        """For each optimizer, its parameters with unique names (for Horovod's wrapper)."""
        modules = self._modules()
        return {
            opt: [(f"{m}.{n}", p) for m in names for n, p in modules[m].named_parameters()]
            for opt, names in self._optimized().items()
        }

    def optimizer_files(self) -> dict[str, bytes]:
        """The optimizers' state as files (tensors as safetensors, the rest as JSON)."""
        tensors: dict[str, torch.Tensor] = {}
        meta: dict[str, Any] = {}
        for name, optimizer in self.optimizers.items():
            state = optimizer.state_dict()
            scalars: dict[str, dict[str, Any]] = {}
            for index, values in state["state"].items():
                for key, value in values.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"{name}.{index}.{key}"] = value.detach().cpu().contiguous()
                    else:
                        scalars.setdefault(str(index), {})[key] = value
            meta[name] = {"param_groups": state["param_groups"], "scalars": scalars}
        return {
            OPTIMIZER_FILE: save_tensors(tensors),
            OPTIMIZER_META: json.dumps(meta, sort_keys=True).encode("utf-8"),
        }

    def load_optimizers(self, folder: str) -> None:
        """Restore :meth:`optimizer_files` from ``folder`` (any URI).

        The networks must be built (:meth:`setup` / load).
        """
        found = files.read_folder(folder, (OPTIMIZER_FILE, OPTIMIZER_META))
        meta = json.loads(found[OPTIMIZER_META])
        # on the CPU: load_state_dict moves moments to the parameters' device, keeps Adam's step
        tensors = load_tensors(found[OPTIMIZER_FILE])
        for name, optimizer in self.optimizers.items():
            state: dict[int, dict[str, Any]] = {}
            for key, tensor in tensors.items():
                opt, index, field = key.split(".", 2)
                if opt == name:
                    state.setdefault(int(index), {})[field] = tensor
            for index, values in meta[name]["scalars"].items():
                state.setdefault(int(index), {}).update(values)
            optimizer.load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})

    @property
    def loss_history(self) -> pd.DataFrame:
        """One row per epoch: losses, validation score, seconds."""
        return pd.DataFrame(
            [
                {
                    "epoch": e.epoch,
                    **e.losses,
                    "validation_score": e.validation_score,
                    "seconds": e.seconds,
                }
                for e in self.history
            ]
        )

    def model_files(self) -> dict[str, bytes]:
        """The model folder's files: tensors (safetensors), encoder JSON, model JSON."""
        if self.encoder is None:
            raise NotFittedError(f"{self.name} is not fitted: nothing to save")
        tensors = {
            f"{key}.{name}": tensor.detach().cpu().contiguous()
            for key, module in self._modules().items()
            for name, tensor in module.state_dict().items()
        }
        meta = {
            "format_version": MODEL_FORMAT_VERSION,
            "model": self.name,
            "train": self.train.model_dump(mode="json"),
            "config": self._config(),
            "history": [asdict(e) for e in self.history],
        }
        return {
            WEIGHTS_FILE: save_tensors(tensors),
            ENCODER_FILE: self.encoder.to_json().encode("utf-8"),
            MODEL_FILE: json.dumps(meta, indent=2, sort_keys=True).encode("utf-8"),
        }

    def save(self, path: str | Path) -> str:
        """Write the model folder at ``path`` (any lakehouse URI), whole: ``model.json`` last."""
        folder = str(path)
        files.publish_folder(folder, self.model_files(), commit=MODEL_FILE)
        return folder

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> TrainableModel:
        """Read a model folder written by :meth:`save` (any registered model class, any URI)."""
        folder = str(path)
        try:
            found = files.read_folder(folder, (WEIGHTS_FILE, ENCODER_FILE, MODEL_FILE))
        except FileNotFoundError as exc:
            raise InvalidDataError(f"{folder} is not a saved model: {exc}") from exc
        return cls.from_files(found, device=device, where=folder)

    @classmethod
    def from_files(
        cls, found: Mapping[str, bytes], *, device: str = "cpu", where: str = "model"
    ) -> TrainableModel:
        """Build a model from the files of :meth:`model_files` (``where`` names them in errors)."""
        meta = json.loads(found[MODEL_FILE])
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise InvalidDataError(
                f"{where}/{MODEL_FILE}: model format version {meta.get('format_version')!r}, "
                f"this synth reads {MODEL_FORMAT_VERSION}: retrain the model with this version"
            )
        model_cls = TrainableModel.registry.get(meta.get("model", ""))
        if model_cls is None:
            raise InvalidDataError(f"{where}: unknown model {meta.get('model')!r}")
        train = TrainConfig(**{**meta["train"], "device": device})
        model = model_cls._from_config(meta["config"], train)
        model.setup(TableEncoder.from_json(found[ENCODER_FILE].decode("utf-8")))
        try:
            tensors = load_tensors(found[WEIGHTS_FILE], device=device)
            for key, module in model._modules().items():
                prefix = f"{key}."
                module.load_state_dict(
                    {n[len(prefix) :]: t for n, t in tensors.items() if n.startswith(prefix)}
                )
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:  # shape mismatch too
            raise InvalidDataError(
                f"{where}/{WEIGHTS_FILE} is corrupt, truncated or does not match "
                f"{where}/{MODEL_FILE} ({type(exc).__name__}: {str(exc)[:200]}): retrain the "
                "model or restore the folder"
            ) from exc
        model.history = [EpochLog(**e) for e in meta["history"]]
        return model

    @classmethod
    @abstractmethod
    def _from_config(cls, config: dict[str, Any], train: TrainConfig) -> TrainableModel:
        """Construct from :meth:`_config` output."""


class Synthesizer(TrainableModel):
    """A generator of table rows: ``fit``, ``sample``, ``save`` / ``load``, loss history."""

    @abstractmethod
    def _generate(
        self, n: int, rng: torch.Generator, conditions: Mapping[str, object] | None = None
    ) -> np.ndarray:
        """``n`` encoded rows (activated) from the current networks.

        A model may use ``conditions`` to steer generation (the GAN's conditional column); rows
        are filtered on every condition afterwards anyway.
        """

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> Synthesizer:
        """Read a profile generator's folder written by :meth:`save`."""
        model = TrainableModel.load(path, device=device)
        if not isinstance(model, Synthesizer):
            raise InvalidDataError(
                f"{path} holds a {model.name!r} model, not a profile generator (vae or gan)"
            )
        return model

    # -- shared surface ----------------------------------------------------------------------------
    def fit(
        self,
        table: pd.DataFrame,
        specs: Sequence[ColumnSpec],
        *,
        progress: Callable[[EpochLog], None] | None = None,
    ) -> Synthesizer:
        """Fit the encoder on ``table`` then train; keeps the best validated weights."""
        if len(table) < 2:
            raise InvalidDataError(f"cannot train on {len(table)} row(s): need at least 2")
        torch.manual_seed(self.train.seed)
        rng = np.random.default_rng(self.train.seed)
        order = rng.permutation(len(table))
        n_val = int(len(table) * self.train.validation_fraction)
        val_rows = table.iloc[order[:n_val]].reset_index(drop=True)
        train_rows = table.iloc[order[n_val:]].reset_index(drop=True)
        self.setup(TableEncoder(specs).fit(train_rows, seed=self.train.seed))
        data = self.encode(train_rows)
        gen = torch.Generator().manual_seed(self.train.seed)
        best, best_state, stale = -np.inf, None, 0
        self.history = []
        for epoch in range(1, self.train.epochs + 1):
            start = time.perf_counter()
            losses = self.train_epoch(data, gen)
            score = None
            if n_val and epoch % self.train.validate_every == 0:
                fake = self._decode(self._generate(min(len(val_rows), 2_000), gen), gen)
                score = shape_score(val_rows, fake, specs)
            entry = EpochLog(epoch, losses, score, round(time.perf_counter() - start, 4))
            self.history.append(entry)
            (progress or _log_epoch)(entry)
            if score is not None:
                if score > best:
                    best, stale = score, 0
                    best_state = {
                        k: {n: t.detach().clone() for n, t in m.state_dict().items()}
                        for k, m in self._modules().items()
                    }
                else:
                    stale += 1
                    if self.train.patience and stale >= self.train.patience:
                        log.info("%s: early stop at epoch %d (best %.4f)", self.name, epoch, best)
                        break
        if best_state is not None:
            for key, module in self._modules().items():
                module.load_state_dict(best_state[key])
        return self

    def _decode(self, encoded: np.ndarray, gen: torch.Generator) -> pd.DataFrame:
        """Decode generator output; long-tail categories are drawn with a seed from ``gen``."""
        assert self.encoder is not None
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        return self.encoder.reverse_transform(encoded, seed=seed)

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        conditions: Mapping[str, object] | None = None,
        max_tries: int = 50,
    ) -> pd.DataFrame:
        """Return ``n`` synthetic rows; the same seed gives the same rows.

        ``conditions`` keeps only rows whose columns equal the given values (rejection sampling
        in batches); a condition too rare to meet within ``max_tries`` batches is an error.
        """
        if self.encoder is None:
            raise NotFittedError(f"{self.name} is not fitted: call fit() or load() first")
        conditions = dict(conditions or {})
        unknown = sorted(set(conditions) - {s.name for s in self.encoder.specs})
        if unknown:
            raise InvalidDataError(
                f"unknown condition column(s) {unknown}; the model has "
                f"{[s.name for s in self.encoder.specs]}"
            )
        gen = torch.Generator().manual_seed(seed)
        for module in self._modules().values():
            module.eval()
        kept: list[pd.DataFrame] = []
        have = 0
        with torch.no_grad():
            for _ in range(max_tries if conditions else 1):
                size = max(n, 1_000) if conditions else n
                batch = self._decode(self._generate(size, gen, conditions), gen)
                for column, value in conditions.items():
                    batch = batch[batch[column] == value]
                kept.append(batch)
                have += len(batch)
                if have >= n:
                    break
        for module in self._modules().values():
            module.train()
        if have < n:
            raise InvalidDataError(
                f"only {have} of {n} rows met the conditions {conditions} in {max_tries} batches: "
                "the condition is too rare for rejection sampling"
            )
        return pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)


def _log_epoch(entry: EpochLog) -> None:
    losses = " ".join(f"{k}={v:.4f}" for k, v in entry.losses.items())
    score = "" if entry.validation_score is None else f" val={entry.validation_score:.4f}"
    log.info("epoch %d: %s%s (%.2fs)", entry.epoch, losses, score, entry.seconds)
