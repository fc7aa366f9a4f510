"""Evaluation pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.evaluation import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.train_feature_encoder,
                ["training_set", "params:evaluation"],
                "feature_encoder",
                name="train_feature_encoder",
            ),
            Node(
                nodes.sample_generator,
                ["generator", "params:evaluation"],
                "evaluation_samples",
                name="sample_generator",
            ),
            Node(
                nodes.measure_quality,
                [
                    "feature_encoder",
                    "evaluation_samples",
                    "holdout_set",
                    "training_set",
                    "dataset_digest",
                    "params:evaluation",
                ],
                ["evaluation_metrics", "evaluation_mlflow_metrics"],
                name="measure_quality",
            ),
            Node(
                nodes.plot_samples,
                ["evaluation_samples", "params:evaluation"],
                "evaluation_sample_grid",
                name="plot_samples",
            ),
        ],
        tags=["evaluation"],
    )
