"""Preprocessing pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.preprocessing import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.split_holdout,
                ["accepted_works", "params:preprocessing"],
                ["training_works", "holdout_works"],
                name="split_holdout",
            ),
            Node(
                nodes.build_image_set,
                [
                    "training_works",
                    "raw_works",
                    "params:preprocessing",
                    "params:policy",
                ],
                "training_set",
                name="build_training_set",
            ),
            Node(
                nodes.build_image_set,
                ["holdout_works", "raw_works", "params:preprocessing", "params:policy"],
                "holdout_set",
                name="build_holdout_set",
            ),
            Node(
                nodes.build_training_manifest,
                ["training_works", "training_set"],
                "training_manifest",
                name="build_training_manifest",
            ),
            Node(
                nodes.compute_dataset_digest,
                "training_manifest",
                "dataset_digest",
                name="compute_dataset_digest",
            ),
        ],
        tags=["preprocessing"],
    )
