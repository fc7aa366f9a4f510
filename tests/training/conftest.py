from __future__ import annotations

import pytest
import yaml

from imagegen.framework.parameters import TrainingParams
from tests.conftest import PROJECT_ROOT


def smoke_training_params(tmp_path, **overrides) -> TrainingParams:
    """conf/base merged with conf/smoke, as `--env smoke` reads them, plus overrides."""
    base = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_training.yml").read_text()
    )
    smoke = yaml.safe_load(
        (PROJECT_ROOT / "conf/smoke/parameters_training.yml").read_text()
    )
    params = base["training"]
    for key, value in smoke["training"].items():
        if isinstance(value, dict):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    params["checkpoint_dir"] = str(tmp_path / "checkpoints")
    params["progress_bar"] = False
    for key, value in overrides.items():
        if isinstance(value, dict):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    return TrainingParams.model_validate(params)


@pytest.fixture
def smoke_params(tmp_path):
    def make(**overrides) -> TrainingParams:
        return smoke_training_params(tmp_path, **overrides)

    return make
