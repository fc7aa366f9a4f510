"""Monitor: quality, memorisation and volume of what deployed generators produced."""

from imagegen.pipelines.monitor.pipeline import create_pipeline

__all__ = ["create_pipeline"]
