"""The other model families through the whole `train` pipeline to a served model."""

import base64
import io

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from tests.project import copy_project, kedro_at_once

pytestmark = pytest.mark.slow


def _pixels(frame: pd.DataFrame) -> np.ndarray:
    return np.stack(
        [
            np.asarray(Image.open(io.BytesIO(base64.b64decode(p))))
            for p in frame["png_base64"]
        ]
    )


FAMILIES = ("cgan", "vae")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A fresh project per family after its smoke `train`; the runs go at once."""
    projects = {
        f: copy_project(tmp_path_factory.mktemp(f) / "project") for f in FAMILIES
    }
    args = ("run", "--pipeline", "train", "--env", "smoke", "--params")
    results = kedro_at_once(
        {f: (projects[f], (*args, f"training.model={f}")) for f in FAMILIES}
    )
    return {f: (projects[f], results[f]) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_evaluates_registers_and_serves(trained, family, monkeypatch):
    import mlflow

    project, result = trained[family]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    uri = f"sqlite:///{project}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias(
        f"imagegen-digits-{family}", "candidate"
    )
    assert version.tags["extractor"]  # evaluated on the family's own samples

    # Through the environment (restored after the test), not mlflow's global setters.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = mlflow.pyfunc.load_model(f"models:/imagegen-digits-{family}@candidate")
    if family == "cgan":
        three = model.predict(pd.DataFrame([{"seed": 1, "n": 2, "label": 3}]))
        seven = model.predict(pd.DataFrame([{"seed": 1, "n": 2, "label": 7}]))
        assert list(three["label"]) == [3, 3]
        assert not np.array_equal(_pixels(three), _pixels(seven))
        # The model checks its input: `label` is required for a class-conditional one.
        with pytest.raises(Exception, match="class-conditional: give 'label'"):
            model.predict(pd.DataFrame([{"seed": 1, "n": 1}]))
    else:
        out = model.predict(pd.DataFrame([{"seed": 1, "n": 2}]))
        images = _pixels(out)
        assert images.shape == (2, 28, 28) and images.std() > 0
