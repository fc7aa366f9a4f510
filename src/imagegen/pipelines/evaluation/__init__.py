"""Evaluation: sample the generator and measure it against held-back works."""

from imagegen.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
