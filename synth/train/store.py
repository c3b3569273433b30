"""Publishing a trained model folder to the model store: whole, or not at all.

:func:`publish_model` writes the model's files (:meth:`~synth.models.base.TrainableModel.
model_files`) and its ``artifact.json`` as one folder through
:func:`synth.io.files.publish_folder`, ``artifact.json`` last: on a local file system or HDFS
the folder is written beside the target and swapped in by rename; on an object store the
target's ``artifact.json`` is removed first and written after every other file. Readers
(synthesis, the report) require ``artifact.json``, so they see the previous complete model, none,
or the new complete one; never a folder with half its tensors.
"""

from __future__ import annotations

from typing import Any

from synth.io import files
from synth.io.delta import json_text
from synth.models.base import TrainableModel
from synth.refs import ARTIFACT


def publish_model(model: TrainableModel, target: str, artifact: dict[str, Any]) -> str:
    """Write ``model`` and ``artifact`` as the folder ``target`` (see the module docstring)."""
    content = {**model.model_files(), ARTIFACT: json_text(artifact).encode("utf-8")}
    files.publish_folder(str(target), content, commit=ARTIFACT)
    return str(target)
