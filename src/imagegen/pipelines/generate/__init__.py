"""Generate: images from a registered model alias, labelled with XMP provenance."""

from imagegen.pipelines.generate.pipeline import create_pipeline

__all__ = ["create_pipeline"]
