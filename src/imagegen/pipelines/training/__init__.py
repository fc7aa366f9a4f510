"""Training: fit the configured generative model on the training set."""

from imagegen.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
