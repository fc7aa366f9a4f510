"""kedro-airflow turns the `train` pipeline into an Airflow DAG that imports."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from tests.project import copy_project, kedro


def _airflow_stub(dags: list, edges: set) -> dict[str, types.ModuleType]:
    """`airflow.sdk`'s `dag` and `task` decorators, recording tasks and edges.

    Airflow itself (hundreds of packages, its own database) is not installed
    in the test environment; the generated file's imports, calls and every
    `a >> b` run against this stand-in instead.
    """

    class Task:
        def __init__(self, task_id: str):
            self.task_id = task_id

        def __rshift__(self, other):
            edges.add((self.task_id, other.task_id))
            return other

    def task(task_id: str):
        return lambda fn: lambda: Task(task_id)

    def dag(**kwargs):
        def wrap(fn):
            def build():
                dags.append(kwargs)
                fn()

            return build

        return wrap

    sdk = types.ModuleType("airflow.sdk")
    sdk.dag, sdk.task = dag, task
    airflow = types.ModuleType("airflow")
    airflow.sdk = sdk
    return {"airflow": airflow, "airflow.sdk": sdk}


@pytest.mark.slow
def test_kedro_airflow_writes_a_dag_of_the_train_pipeline(tmp_path, monkeypatch):
    from imagegen.pipeline_registry import register_pipelines

    project = copy_project(tmp_path / "project")
    result = kedro(project, "airflow", "create", "-p", "train", "-t", "dags")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    path = project / "dags/imagegen_train_dag.py"
    source = path.read_text()
    compile(source, str(path), "exec")

    dags: list = []
    edges: set = set()
    for name, module in _airflow_stub(dags, edges).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("imagegen_train_dag", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))

    pipeline = register_pipelines()["train"]
    task_id = {node.name: node.name.replace("_", "-") for node in pipeline.nodes}
    expected = {
        (task_id[parent.name], task_id[child.name])
        for child, parents in pipeline.node_dependencies.items()
        for parent in parents
    }
    assert len(dags) == 1 and dags[0]["dag_id"] == "imagegen"
    assert edges == expected
    assert {t for edge in edges for t in edge} == set(task_id.values())
    assert {"inventory-works", "train-model", "register-model"} <= set(task_id.values())
    assert 'pipeline_name = "train"' in source
