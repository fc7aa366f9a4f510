"""What users look at: kedro viz in a browser, the walkthrough notebook, the docs site."""

import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.project import PROJECT_ROOT, project_env

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = PROJECT_ROOT / "data/08_reporting/kedro_viz_train.png"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def viz_site(viz_project):
    """The site `kedro viz build` wrote (tests/conftest.py), served over HTTP."""
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(viz_project / "build"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (CI installs it)"
)
def test_viz_shows_the_train_pipeline_in_chromium(viz_site):
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from imagegen.pipeline_registry import register_pipelines

    train_nodes = {n.name for n in register_pipelines()["train"].nodes}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # Skip the first-visit tour; open the `train` pipeline.
        page.add_init_script(
            "window.localStorage.setItem('KedroViz', JSON.stringify({showFeatureHints: false}))"
        )
        page.goto(viz_site + "/?pid=train", wait_until="networkidle")
        page.wait_for_selector("text=train_model", timeout=60_000)
        page.wait_for_timeout(1500)
        body = page.inner_text("body")
        # Layers on (kedro-viz turns them off when the catalog's layers cycle).
        layers = page.locator(".pipeline-layer-name").all_inner_texts()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        page.click(".pipeline-menu-button--layers")
        page.wait_for_timeout(500)
        hidden = page.locator(".pipeline-flowchart__layer-names--visible").count()
        browser.close()
    assert layers == [
        "raw",
        "intermediate",
        "primary",
        "model_input",
        "models",
        "model_output",
        "feature",
        "reporting",
    ]
    assert hidden == 0  # the toggle hides them
    missing = {n for n in train_nodes if n not in body}
    assert not missing, f"nodes not shown: {sorted(missing)}"
    for tag in ("Curation", "Preprocessing", "Training", "Evaluation", "Registration"):
        assert tag in body
    assert SCREENSHOT.stat().st_size > 10_000


def test_walkthrough_notebook_runs_against_the_smoke_run(smoke_project, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    project = tmp_path / "project"
    shutil.copytree(smoke_project, project, symlinks=True)
    (project / "notebooks").mkdir(exist_ok=True)
    notebook = nbformat.read(PROJECT_ROOT / "notebooks/walkthrough.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(project / "notebooks")}},
    )
    client.execute(env=project_env())
    outputs = [
        o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the curation summary and the sample grid
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for o in outputs
    )
    assert "1797 files" in text
    assert "imagegen-digits-dcgan version" in text


def test_docs_site_builds_with_warnings_as_errors(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


def test_every_documented_command_exists_and_is_tested():
    """`imagegen …` and `kedro run --pipeline …` in the docs are real and exercised."""
    import re

    sys.path.insert(0, str(PROJECT_ROOT / "src"))
    from imagegen.cli import main
    from imagegen.pipeline_registry import register_pipelines

    texts = [p.read_text() for p in (PROJECT_ROOT / "docs").rglob("*.md")]
    texts.append((PROJECT_ROOT / "README.md").read_text())
    docs = "\n".join(texts)
    test_files = [p.read_text() for p in (PROJECT_ROOT / "tests").rglob("*.py")]
    tests = "\n".join(test_files)

    commands = set(
        re.findall(
            r"\bimagegen ((?:audit|registry|takedown|tracking) [a-z]+|generate)\b", docs
        )
    )
    assert commands, "no imagegen command found in the docs"
    for command in sorted(commands):
        group = main
        for word in command.split():
            assert word in group.commands, (
                f"docs name `imagegen {command}`: no such command"
            )
            group = group.commands[word]
        quoted = r",\s*".join(f'"{w}"' for w in command.split())
        assert re.search(quoted, tests), (
            f"`imagegen {command}` is in the docs but no test runs it"
        )

    pipelines = set(re.findall(r"--pipelines?[ =]([a-z_]+)", docs))
    registered = register_pipelines()
    for name in sorted(pipelines):
        assert name in registered, f"docs name pipeline {name!r}: not registered"
        runs_it = any(
            ('"--pipeline"' in t or '"--pipelines"' in t) and f'"{name}"' in t
            for t in test_files
        )
        assert runs_it, f"pipeline {name!r} is run by no test"
