"""Generate pipeline wiring."""

from kedro.pipeline import Node, Pipeline

from imagegen.pipelines.generate import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.generate_labelled_images,
                "params:generate",
                ["generated_images", "generation_manifest"],
                name="generate_labelled_images",
            ),
        ],
        tags=["generate"],
    )
