"""imagegen: rights-aware training of image generators, tracked in MLflow."""

__version__ = "0.1.0"
