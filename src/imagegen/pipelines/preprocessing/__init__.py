"""Preprocessing: decode accepted works into the training set and its manifest."""

from imagegen.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
