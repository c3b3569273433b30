"""Publishing a trained model folder to the model store: whole, or not at all.

:func:`publish_model` writes the model (:meth:`~synth.models.base.TrainableModel.save`) and its
``artifact.json`` (written last) into ``<target>.partial-<random>`` beside the target, then
swaps it in: an existing folder is renamed away, the new one renamed to ``target``, the old one
removed. A reader (synthesis, the report) sees the previous complete folder, briefly none, or
the new complete one; never a folder without its ``artifact.json`` or with half its tensors. A
crash leaves only a ``.partial-*`` or ``.old-*`` folder beside the target, which the next
publish of that target removes.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from synth.io.delta import json_text
from synth.models.base import TrainableModel
from synth.refs import ARTIFACT


def publish_model(model: TrainableModel, target: Path, artifact: dict[str, Any]) -> Path:
    """Write ``model`` and ``artifact`` as the folder ``target`` (see the module docstring)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f"{target.name}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in target.parent.glob(f"{target.name}.old-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    token = uuid.uuid4().hex
    partial = target.with_name(f"{target.name}.partial-{token}")
    try:
        model.save(partial)
        (partial / ARTIFACT).write_text(json_text(artifact), "utf-8")
        old = target.with_name(f"{target.name}.old-{token}")
        if target.exists():
            target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
