"""Custom Kedro datasets, only where kedro-datasets has none."""

from imagegen.datasets.binary import BytesDataset
from imagegen.datasets.npz import NpzDataset
from imagegen.datasets.raw_folder import RawFolder, RawFolderDataset

__all__ = ["BytesDataset", "NpzDataset", "RawFolder", "RawFolderDataset"]
