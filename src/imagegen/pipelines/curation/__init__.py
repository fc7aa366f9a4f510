"""Curation: licence, opt-out and integrity decisions on every raw file."""


def create_pipeline(**kwargs):
    """The curation pipeline (imported on use: inventory worker processes import
    `imagegen.pipelines.curation.inventory` and need neither Kedro's pipeline
    nor pandas)."""
    from imagegen.pipelines.curation.pipeline import create_pipeline as create

    return create(**kwargs)


__all__ = ["create_pipeline"]
