"""Curation: licence, opt-out and integrity decisions on every raw file."""

from imagegen.pipelines.curation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
