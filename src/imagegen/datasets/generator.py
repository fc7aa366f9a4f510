"""The trained generator's `.keras` file, loadable in a process that trained nothing."""

from __future__ import annotations

import keras
from kedro_datasets.tensorflow import TensorFlowModelDataset


class GeneratorDataset(TensorFlowModelDataset):
    """kedro-datasets' TensorFlowModelDataset, with the project's layers registered.

    The generator's convolutions are `imagegen.models.convolutions` layers;
    Keras finds them by their registered names only once that module is
    imported, which `kedro run --pipelines evaluate` alone would not do.
    """

    def load(self) -> keras.Model:
        import imagegen.models  # noqa: F401  (registers the layers with Keras)

        return super().load()
