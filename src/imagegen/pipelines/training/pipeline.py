"""Training pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.training import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.train_model,
                ["training_set", "params:training"],
                [
                    "generator",
                    "training_metrics",
                    "training_sample_grid",
                    "training_summary",
                ],
                name="train_model",
            ),
        ],
        tags=["training"],
    )
