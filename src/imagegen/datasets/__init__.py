"""Custom Kedro datasets, only where kedro-datasets has none."""

from imagegen.datasets.binary import BytesDataset
from imagegen.datasets.npz import NpzDataset
from imagegen.datasets.raw_folder import RawFolder, RawFolderDataset
from imagegen.datasets.remote_folder import RemoteFolder, WorksFolderDataset
from imagegen.datasets.shards import ShardedTrainingSet, TrainingSetDataset

__all__ = [
    "BytesDataset",
    "NpzDataset",
    "RawFolder",
    "RawFolderDataset",
    "RemoteFolder",
    "ShardedTrainingSet",
    "TrainingSetDataset",
    "WorksFolderDataset",
]
