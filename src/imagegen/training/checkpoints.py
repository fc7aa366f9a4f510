"""Training checkpoints: every variable that decides the next step, in one file.

Hand-written rather than `tf.train.Checkpoint`: with Keras 3 that one misses
the seed generators' states and the metric accumulators, and a `.keras` file
holds neither the second optimiser nor the step. A checkpoint here is one
`.npz` (model variables including RNG states, each optimiser's variables,
metric accumulators, and a JSON header with the step and the history), written
to a temporary name and renamed, so a kill leaves the previous one intact.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d{9})\.npz$")


class CheckpointMismatch(ValueError):
    """A checkpoint does not fit the configured model or data."""


@dataclass
class Checkpoint:
    """What a checkpoint file holds, read back."""

    path: Path
    step: int
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)


def state_variables(model) -> dict[str, list]:
    """Every variable to save, in a fixed order, grouped by owner."""
    groups = {"model": list(model.variables)}
    for name, (optimizer, _) in model.optimizer_targets().items():
        groups[f"optimizer.{name}"] = list(optimizer.variables)
    groups["metrics"] = [v for m in model.metrics for v in m.variables]
    return groups


class CheckpointStore:
    """`ckpt-<step>.npz` files in one folder; the newest `keep` are kept."""

    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory)
        self.keep = keep

    def paths(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Checkpoint | None:
        """The newest readable checkpoint (a damaged newest one is skipped, logged)."""
        for _, path in reversed(self.paths()):
            try:
                return self.read(path)
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("Skipping unreadable checkpoint %s: %s", path, exc)
        return None

    @staticmethod
    def read(path: Path) -> Checkpoint:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        header = json.loads(str(arrays.pop("header")))
        return Checkpoint(path, int(header["step"]), header, arrays)

    def clear(self) -> int:
        """Remove this run's checkpoints (a fresh start); returns how many there were."""
        found = self.paths()
        if self.directory.exists():
            shutil.rmtree(self.directory)
        return len(found)

    def save(self, model, step: int, header: dict[str, Any]) -> Path:
        """Write the state after `step` steps atomically; prune old ones."""
        arrays: dict[str, np.ndarray] = {}
        for group, variables in state_variables(model).items():
            for index, variable in enumerate(variables):
                arrays[f"{group}.{index:05d}"] = np.asarray(variable.numpy())
        arrays["header"] = np.array(json.dumps({**header, "step": step}))
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"ckpt-{step:09d}.npz"
        partial = path.with_name(path.name + ".partial")
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        with open(partial, "wb") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
        for _, old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path


def restore(model, checkpoint: Checkpoint) -> None:
    """Assign every saved value back; refuse if the variables do not line up."""
    for group, variables in state_variables(model).items():
        saved = sorted(k for k in checkpoint.arrays if k.rsplit(".", 1)[0] == group)
        if len(saved) != len(variables):
            raise CheckpointMismatch(
                f"{checkpoint.path} holds {len(saved)} {group} variables, the "
                f"configured model has {len(variables)}"
            )
        for key, variable in zip(saved, variables, strict=True):
            value = checkpoint.arrays[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise CheckpointMismatch(
                    f"{checkpoint.path}: {key} has shape {value.shape}, the "
                    f"configured model's {variable.path} has {tuple(variable.shape)}"
                )
            variable.assign(value)
