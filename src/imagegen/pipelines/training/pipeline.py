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
                    "training_epoch_samples",
                    "training_summary",
                ],
                name="train_model",
            ),
            Node(
                nodes.plot_training_samples,
                ["generator", "training_summary", "params:training"],
                "training_sample_grid",
                name="plot_training_samples",
            ),
            Node(
                nodes.plot_training_curves,
                "training_summary",
                "training_curves",
                name="plot_training_curves",
            ),
            Node(
                nodes.write_tensorboard_events,
                "training_summary",
                "training_tensorboard",
                name="write_tensorboard_events",
            ),
        ],
        tags=["training"],
    )
