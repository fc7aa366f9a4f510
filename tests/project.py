"""Run the real `kedro` CLI in a throw-away copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
    "09_lineage",
)


def copy_project(dest: Path) -> Path:
    """pyproject.toml and conf/ (without conf/local) into `dest`, empty data layers."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(
        PROJECT_ROOT / "conf", dest / "conf", ignore=shutil.ignore_patterns("local")
    )
    (dest / "conf" / "local").mkdir()
    # Kedro checks that the source folder exists; the code is the installed package.
    (dest / "src").mkdir()
    shutil.copy(PROJECT_ROOT / ".telemetry", dest / ".telemetry")
    for layer in LAYERS:
        (dest / "data" / layer).mkdir(parents=True)
    return dest


def project_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))
        and k != "IMAGEGEN_GENERATION_LEDGER"
    }
    env.update(
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        TF_CPP_MIN_LOG_LEVEL="2",
        COLUMNS="200",
    )
    # Console scripts of this interpreter's venv (uvicorn for `mlflow models serve`).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def kedro(project: Path, *args: str, timeout: int = 600, **env: str):
    """`python -m kedro ARGS` in `project`; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        check=False,
        cwd=project,
        env=project_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kedro_at_once(
    runs: dict[str, tuple[Path, tuple[str, ...]]], timeout: int = 900
) -> dict[str, subprocess.CompletedProcess]:
    """`python -m kedro ARGS` in several projects at once; CompletedProcess by key.

    A smoke `train` keeps about one core busy (imports, nodes, small networks), so
    on a 2-core CI machine two independent ones take little more than one.
    """
    started = {}
    try:
        for key, (project, args) in runs.items():
            # Files, not pipes: a run whose pipe fills would wait for the other.
            out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            process = subprocess.Popen(
                [sys.executable, "-m", "kedro", *args],
                cwd=project,
                env=project_env(),
                stdout=out,
                stderr=err,
                text=True,
            )
            started[key] = (process, out, err)
        results = {}
        for key, (process, out, err) in started.items():
            process.wait(timeout=timeout)
            out.seek(0)
            err.seek(0)
            results[key] = subprocess.CompletedProcess(
                process.args, process.returncode, out.read(), err.read()
            )
        return results
    finally:
        for process, out, err in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
            out.close()
            err.close()


def imagegen(project: Path, *args: str, timeout: int = 300):
    """`python -m imagegen.cli ARGS` in `project`; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "imagegen.cli", *args],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
