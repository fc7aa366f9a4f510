"""Serving a registered model: `mlflow models serve` and a loader without the project."""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.project import project_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, payload: dict | bytes) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def champion(smoke_project):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagegen.cli",
            "registry",
            "promote",
            "imagegen-digits-dcgan",
            "1",
            "--reason",
            "serving test",
            "--by",
            "ci",
        ],
        cwd=smoke_project,
        env=project_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return smoke_project


@pytest.fixture(scope="module")
def server(champion):
    port = _free_port()
    env = project_env(MLFLOW_TRACKING_URI=f"sqlite:///{champion}/mlflow.db")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/imagegen-digits-dcgan@champion",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=champion,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/ping", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(1)
        if process.poll() is not None:
            pytest.fail("server exited: " + process.stdout.read().decode()[-3000:])
    else:
        os.killpg(process.pid, signal.SIGTERM)
        pytest.fail("server did not answer /ping in 180 s")
    yield base
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _images(predictions):
    return [
        Image.open(io.BytesIO(base64.b64decode(p["png_base64"]))) for p in predictions
    ]


def test_dataframe_records_request(server):
    status, body = _post(
        server + "/invocations", {"dataframe_records": [{"seed": 1, "n": 4}]}
    )
    assert status == 200, body
    predictions = body["predictions"]
    assert len(predictions) == 4
    for image in _images(predictions):
        assert image.size == (28, 28)
        assert image.info["XML:com.adobe.xmp"].count("trainedAlgorithmicMedia") == 1
        extrema = image.getextrema()
        assert 0 <= extrema[0] <= extrema[1] <= 255
    assert {p["model_name"] for p in predictions} == {"imagegen-digits-dcgan"}
    assert all(len(p["dataset_digest"]) == 64 for p in predictions)


def test_inputs_request_with_options(server):
    status, body = _post(
        server + "/invocations",
        {"inputs": {"seed": [2, 3], "n": [1, 2], "truncation": [0.5, 0.5]}},
    )
    assert status == 200, body
    assert [p["request"] for p in body["predictions"]] == [0, 1, 1]


def test_out_of_bounds_is_a_400_with_a_message(server):
    status, body = _post(
        server + "/invocations", {"dataframe_records": [{"seed": 1, "n": 100000}]}
    )
    assert status == 400
    assert body["message"] == "n must be an integer between 1 and 64, got 100000"


def _ledger_lines(project) -> int:
    ledger = project / "data/09_lineage/generation_ledger.jsonl"
    return len(ledger.read_text().splitlines()) if ledger.exists() else 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"dataframe_records": [{"seed": 1.5, "n": 1}]}, "seed must be an integer"),
        ({"dataframe_records": [{"seed": "3", "n": 1}]}, "seed must be an integer"),
        ({"dataframe_records": [{"seed": True, "n": 1}]}, "seed must be an integer"),
        (
            {"dataframe_records": [{"seed": 1e30, "n": 1}]},
            "seed must be an integer between 0 and 9223372036854775807, got 1e+30",
        ),
        ({"inputs": {"seed": [1.5], "n": [1]}}, "seed must be an integer"),
        (
            {"dataframe_records": [{"seed": 1, "n": 1, "colour": "red"}]},
            "unknown column(s) 'colour'",
        ),
        (
            {"dataframe_split": {"columns": ["seed", "n"], "data": [[1, 64]] * 5}},
            "at most 256 images (rows x n), got 320",
        ),
        (
            {"dataframe_records": [{"seed": s, "n": 64} for s in range(1000)]},
            "at most 256 images (rows x n), got 1000 rows",
        ),
        (b'{"dataframe_records": [{"seed": 1,', "request body is not valid JSON"),
        (b"[" * 100_000, "nested deeper than 8 levels"),
    ],
)
def test_refused_requests_are_one_line_400s_and_record_nothing(
    server, champion, payload, message
):
    before = _ledger_lines(champion)
    status, body = _post(server + "/invocations", payload)
    assert status == 400, body
    assert message in body["message"]
    # Our line alone: no echo of the request, no dataframe dump, no traceback.
    assert "\n" not in body["message"] and len(body["message"]) < 160
    assert "stack_trace" not in body
    time.sleep(0.5)  # the ledger is written in the background
    assert _ledger_lines(champion) == before


LOADER = textwrap.dedent(
    """
    import importlib.machinery, importlib.abc, json, sys

    BLOCKED = ("kedro", "kedro_datasets", "kedro_mlflow", "great_expectations",
               "sklearn", "skimage", "imagehash", "license_expression")

    class OnlyTheModelsCode(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not a requirement of the model")
            if name.split(".")[0] == "imagegen":
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                if spec is None or "/code/" not in (spec.origin or ""):
                    raise ImportError(f"{name} must come from the model's code_paths")
                return spec
            return None

    sys.meta_path.insert(0, OnlyTheModelsCode())
    import mlflow, pandas as pd
    model = mlflow.pyfunc.load_model(sys.argv[1])
    out = model.predict(pd.DataFrame({"seed": [0], "n": [2]}))
    import imagegen
    print(json.dumps({"rows": len(out), "imagegen": imagegen.__file__,
                      "blocked_loaded": [m for m in sys.modules if m.split(".")[0] in BLOCKED]}))
    """
)


def test_model_loads_without_the_project(champion, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{champion}/mlflow.db")
    local = mlflow.artifacts.download_artifacts(
        "models:/imagegen-digits-dcgan@champion", dst_path=str(tmp_path / "model")
    )
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    result = subprocess.run(
        [sys.executable, str(script), local],
        capture_output=True,
        text=True,
        env=project_env(),
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rows"] == 2
    assert report["imagegen"].startswith(local)
    assert report["blocked_loaded"] == []


def test_pyfunc_loads_by_alias_and_by_version(champion, monkeypatch):
    import mlflow
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{champion}/mlflow.db")
    by_alias = mlflow.pyfunc.load_model("models:/imagegen-digits-dcgan@champion")
    by_version = mlflow.pyfunc.load_model("models:/imagegen-digits-dcgan/1")
    request = pd.DataFrame({"seed": [9], "n": [2]})
    a = [
        Image.open(io.BytesIO(base64.b64decode(p))).tobytes()
        for p in by_alias.predict(request)["png_base64"]
    ]
    b = [
        Image.open(io.BytesIO(base64.b64decode(p))).tobytes()
        for p in by_version.predict(request)["png_base64"]
    ]
    assert a == b


def test_promotion_is_recorded_and_demotion_removes_the_alias(champion):
    from mlflow import MlflowClient

    uri = f"sqlite:///{champion}/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version("imagegen-digits-dcgan", "1")
    decisions = [
        v for k, v in version.tags.items() if k.startswith("decision.champion.")
    ]
    assert decisions == ["promoted by ci: serving test"]
    demote = subprocess.run(
        [
            sys.executable,
            "-m",
            "imagegen.cli",
            "registry",
            "demote",
            "imagegen-digits-dcgan",
            "--reason",
            "end of test",
            "--by",
            "ci",
        ],
        cwd=champion,
        env=project_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert demote.returncode == 0, demote.stderr
    assert (
        "champion" not in client.get_registered_model("imagegen-digits-dcgan").aliases
    )
    tags = client.get_model_version("imagegen-digits-dcgan", "1").tags
    assert "demoted by ci: end of test" in tags.values()
