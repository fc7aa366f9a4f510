"""Quiet by default; IMAGEGEN_LOG=debug hands the libraries their output back."""

import logging
import os
import warnings

import pytest

from imagegen.framework import quiet


@pytest.fixture
def loggers(monkeypatch):
    # configure() sets library variables in os.environ: restored after the test.
    for key in quiet._QUIET_ENV:
        monkeypatch.setenv(key, os.environ.get(key, ""))
    names = ("py.warnings", "mlflow", "kedro_mlflow", "imagegen")
    saved = {n: logging.getLogger(n).level for n in names}
    root = logging.getLogger()
    saved_root, saved_handlers = root.level, list(root.handlers)
    handler = logging.StreamHandler()
    root.addHandler(handler)
    yield handler
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
        for f in list(logging.getLogger(name).filters):
            logging.getLogger(name).removeFilter(f)
    root.setLevel(saved_root)
    root.handlers = saved_handlers


def _captured(message: str, filename: str) -> logging.LogRecord:
    text = warnings.formatwarning(message, UserWarning, filename, 1)
    return logging.LogRecord("py.warnings", logging.WARNING, "", 0, "%s", (text,), None)


def test_only_the_projects_warnings_pass(monkeypatch, loggers):
    monkeypatch.delenv("IMAGEGEN_LOG", raising=False)
    quiet.configure()
    warnings_logger = logging.getLogger("py.warnings")
    assert warnings_logger.filter(_captured("ours", "/x/src/imagegen/images.py"))
    assert not warnings_logger.filter(
        _captured("register_new_resolver() is deprecated", "/v/kedro/config/x.py")
    )
    assert warnings_logger.filter(
        _captured("Option '--pipeline' is deprecated", "/v/kedro/framework/cli/p.py")
    )
    assert logging.getLogger("mlflow").level == logging.ERROR
    chatter = logging.LogRecord(
        "kedro_mlflow.hook", logging.INFO, "", 0, "run", (), None
    )
    assert not loggers.filter(chatter)
    chatter.levelno = logging.WARNING
    assert loggers.filter(chatter)


def test_imagegen_log_debug_brings_everything_back(monkeypatch, loggers):
    monkeypatch.delenv("IMAGEGEN_LOG", raising=False)
    quiet.configure()
    monkeypatch.setenv("IMAGEGEN_LOG", "debug")
    quiet.configure()
    warnings_logger = logging.getLogger("py.warnings")
    assert warnings_logger.filter(
        _captured("register_new_resolver() is deprecated", "/v/kedro/config/x.py")
    )
    assert logging.getLogger("mlflow").level == logging.INFO
    assert logging.getLogger("imagegen").level == logging.DEBUG
    chatter = logging.LogRecord(
        "kedro_mlflow.hook", logging.INFO, "", 0, "run", (), None
    )
    assert loggers.filter(chatter)
