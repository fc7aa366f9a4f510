"""kedro-viz can order the catalog's layers in every pipeline and environment."""

from types import SimpleNamespace

import pytest
from kedro_viz.services.layers import sort_layers

from imagegen.framework.resolvers import _config_loader
from imagegen.pipeline_registry import register_pipelines
from tests.project import PROJECT_ROOT

ENVS = sorted(
    p.name
    for p in (PROJECT_ROOT / "conf").iterdir()
    if p.is_dir() and p.name != "local"
)


def _layers(env: str) -> dict[str, str]:
    catalog = _config_loader(PROJECT_ROOT, env if env != "base" else None)["catalog"]
    layers = {}
    for name, entry in catalog.items():
        layer = ((entry or {}).get("metadata") or {}).get("kedro-viz", {}).get("layer")
        if layer:
            layers[name] = layer
    return layers


def _layer_order(pipeline, layers: dict[str, str]) -> list[str]:
    """The order kedro-viz draws, from its own sort over datasets and nodes."""
    nodes, children = {}, {}
    for node in pipeline.nodes:
        task = f"task:{node.name}"
        nodes[task] = SimpleNamespace(layer=None)
        children.setdefault(task, set())
        for name in node.inputs:
            nodes.setdefault(name, SimpleNamespace(layer=layers.get(name)))
            children.setdefault(name, set()).add(task)
        for name in node.outputs:
            nodes.setdefault(name, SimpleNamespace(layer=layers.get(name)))
            children[task].add(name)
            children.setdefault(name, set())
    order = sort_layers(nodes, children)
    used = {n.layer for n in nodes.values() if n.layer}
    # On a cycle kedro-viz logs a warning and draws no layers: an empty order.
    if set(order) != used:
        raise ValueError(f"no layer order (a cycle) among {sorted(used)}")
    return order


def test_the_check_finds_a_layer_cycle():
    pipeline = register_pipelines()["curation"]
    layers = {**_layers("base"), "accepted_works": "raw"}
    with pytest.raises(Exception, match="a cycle"):
        _layer_order(pipeline, layers)


@pytest.mark.parametrize("env", ENVS)
def test_layers_form_one_order_in_every_pipeline(env):
    layers = _layers(env)
    for name, pipeline in register_pipelines().items():
        try:
            order = _layer_order(pipeline, layers)
        except ValueError as error:
            raise AssertionError(f"pipeline {name}: {error}") from None
        if name == "__default__":
            assert order[0] == "raw" and order[-1] == "reporting", order
