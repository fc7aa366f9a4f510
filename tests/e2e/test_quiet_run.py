"""A run prints Kedro's progress and the project's lines; a bad key, one line."""

import re

import pytest

from tests.project import copy_project, kedro

pytestmark = pytest.mark.slow

# What MLflow prints itself (not through logging) when registration registers a model.
MLFLOW_REGISTRY_LINES = re.compile(
    r"^(Successfully registered model '[^']+'\.|Created version '\d+' of model '[^']+'\.)$"
)
# Signs of a library's output: Python warnings, native log lines, tracebacks.
FOREIGN = re.compile(
    r"site-packages|Warning:|DeprecationWarning|deprecated|Traceback|"
    r"^[IWEF]\d{4} |absl|oneDNN|remapper|CloudPickle|autologging|type hints"
)


@pytest.fixture(scope="module")
def quiet_run(smoke_run):
    """The session's smoke `train` run (tests/conftest.py), as the CLI printed it."""
    return smoke_run[1]


def test_a_smoke_train_run_prints_progress_and_the_projects_lines(quiet_run):
    lines = quiet_run.stdout.splitlines()
    errors = quiet_run.stderr.splitlines()
    foreign = [line for line in lines + errors if FOREIGN.search(line)]
    assert not foreign, foreign
    assert all(MLFLOW_REGISTRY_LINES.match(line) for line in errors), errors
    text = quiet_run.stdout
    done = re.search(r"Completed (\d+) out of \1 tasks", text)
    assert done, text[-2000:]
    assert "Curation decisions passed" in text  # a stage's own summary
    assert "Loading data from" not in text
    # 3 progress lines per node, one summary per stage and the gates' warnings.
    assert len(lines) < 3 * int(done.group(1)) + 66, len(lines)


def test_a_bad_key_is_one_line_on_stderr_with_exit_status_2(tmp_path):
    project = copy_project(tmp_path / "project")
    result = kedro(
        project,
        "run",
        "--pipelines",
        "train",
        "--env",
        "smoke",
        "--params",
        "training.model=stylegan",
        TF_CPP_MIN_LOG_LEVEL="",
        timeout=180,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "imagegen: invalid configuration (conf/*/parameters_*.yml or --params): "
        "training.model = 'stylegan': must be one of 'dcgan', 'cgan', 'wgan_gp' "
        "or 'vae'"
    ]
    assert "Traceback" not in result.stdout and "Running node" not in result.stdout
