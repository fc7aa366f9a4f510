"""Registration: log the generator to the MLflow registry with its lineage tags."""

from imagegen.pipelines.registration.pipeline import create_pipeline

__all__ = ["create_pipeline"]
