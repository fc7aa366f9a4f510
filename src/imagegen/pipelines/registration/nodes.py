"""Registration node: the generator as an MLflow pyfunc model in the registry."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _pip_requirements() -> list[str]:
    # Explicit requirements: inferring them re-imports TensorFlow in a
    # subprocess (about 6 s per model).
    from importlib.metadata import version

    packages = ["mlflow", "tensorflow-cpu", "keras", "numpy", "pandas", "pillow"]
    return [f"{p}=={version(p)}" for p in packages]


def register_model(
    generator,
    dataset_digest: dict[str, Any],
    evaluation_metrics: dict[str, Any],
    training_summary: dict[str, Any],
    attribution_table,
    training_manifest,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Log the generator as a pyfunc model, register a version, set its alias and tags."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    import imagegen
    from imagegen.serving import GeneratorModel

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("registration needs the MLflow run that kedro-mlflow opens")
    name = f"{params['model_name_prefix']}{training_summary['model']}"
    # The version's lineage lives in its own run, whichever pipelines ran before.
    mlflow.log_text(
        attribution_table.to_csv(index=False), "attribution/attribution.csv"
    )
    mlflow.log_text(
        training_manifest.to_csv(index=False), "lineage/training_manifest.csv"
    )
    mlflow.log_dict(dataset_digest, "lineage/dataset_digest.json")
    config = {
        "model_name": name,
        "run_id": run.info.run_id,
        "dataset_digest": dataset_digest["dataset_digest"],
        "max_n": params["max_n"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "generator.keras"
        generator.save(keras_path)
        example_in = pd.DataFrame({"seed": [0], "n": [1]})
        wrapper = GeneratorModel()
        wrapper.generator, wrapper.config = generator, config
        wrapper.latent_dim, wrapper.max_n = (
            int(generator.input_shape[-1]),
            params["max_n"],
        )
        example_out = wrapper.predict(None, example_in)
        info = mlflow.pyfunc.log_model(
            name="generator",
            python_model=GeneratorModel(),
            artifacts={"generator": str(keras_path)},
            code_paths=[str(Path(imagegen.__file__).parent)],
            signature=infer_signature(example_in, example_out),
            input_example=example_in,
            pip_requirements=_pip_requirements(),
            model_config=config,
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(name, params["alias"], version)
    tags = {
        "dataset_digest": dataset_digest["dataset_digest"],
        "n_works": str(dataset_digest["n_works"]),
        "n_creators": str(dataset_digest["n_creators"]),
        "licence_summary": json.dumps(
            dataset_digest["licence_summary"], sort_keys=True
        ),
        "attribution": f"runs:/{run.info.run_id}/attribution/attribution.csv",
        "run_id": run.info.run_id,
        "fid": f"{evaluation_metrics['fid']:.4f}",
        "extractor": evaluation_metrics["extractor"],
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    logger.info(
        "Registered %s version %s with alias %r", name, version, params["alias"]
    )
    return {
        "name": name,
        "version": version,
        "alias": params["alias"],
        "run_id": run.info.run_id,
        "model_uri": f"models:/{name}/{version}",
        "tags": tags,
    }
