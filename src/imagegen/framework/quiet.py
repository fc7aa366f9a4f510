"""Quiet by default: a run shows Kedro's progress and the project's own lines.

`conf/logging.yml` sets the levels of the libraries' Python loggers (Kedro
applies it before any project code loads). What a logging file cannot reach is
set here, from `settings.py`, before TensorFlow or MLflow's model code load: the
C++ log levels of TensorFlow/absl/oneDNN (environment variables read once, at
import), MLflow's own logger (it does not propagate to Kedro's handlers), and
Python warnings raised inside third-party code.

`IMAGEGEN_LOG=debug` (or `verbose`) brings everything back.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

VERBOSE_VALUES = frozenset({"debug", "verbose"})

# Read by the C++ libraries when they load; a value the user set wins.
_QUIET_ENV = {
    # 3 hides INFO (oneDNN, CPU features), WARNING and the grappler "remapper
    # failed" ERROR, a TensorFlow optimiser note that changes nothing in the run.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "2",
    # MLflow's artifact download bars (registration re-reads the logged model).
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGING_LEVEL": "ERROR",
}

# The loggers conf/logging.yml quietens, handed back to the root level in verbose mode.
QUIET_LOGGERS = (
    "absl",
    "alembic",
    "great_expectations",
    "kedro.framework.project",
    "kedro.io",
    "kedro.validation",
    "kedro_mlflow",
    "kedro_viz",
    "matplotlib",
    "mlflow",
    "py.warnings",
    "tensorflow",
)

# Kedro's notes on the options a user typed (`--pipeline` is deprecated): addressed
# to the person at the keyboard, so they stay.
_KEPT_WARNING_SOURCES = ("/imagegen/", "/kedro/framework/cli/")


# TensorFlow 2.21 logs through absl before absl::InitializeLog, which ignores
# TF_CPP_MIN_LOG_LEVEL: the "oneDNN custom operations are on" INFO line and absl's
# note about it. No setting reaches those, so the native stderr is filtered for
# absl's INFO/WARNING line format; errors (E/F lines) and everything else pass.
_NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] )"
)
_native_filter: dict[str, bool] = {"on": False}


def verbose() -> bool:
    """True when `IMAGEGEN_LOG` asks for every library's output."""
    return os.environ.get("IMAGEGEN_LOG", "").strip().lower() in VERBOSE_VALUES


class ProjectWarningsOnly(logging.Filter):
    """Pass a captured Python warning only when the project's own code raised it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # logging.captureWarnings logs "%s" with the formatted warning, which
        # starts with the file it was attributed to.
        text = str(record.args[0]) if record.args else record.getMessage()
        where = text.split(":", 1)[0].replace("\\", "/")
        return any(part in where for part in _KEPT_WARNING_SOURCES)


# Libraries that set their own logger to INFO when imported (after conf/logging.yml
# has run): their INFO lines are dropped at Kedro's handlers instead.
_SELF_LEVELLED = ("kedro_mlflow", "great_expectations")
# Kedro's hint to try --async, once per run.
_KEDRO_HINTS = ("Using synchronous mode for loading and saving data",)


class LibraryChatter(logging.Filter):
    """Drop INFO lines of self-levelled libraries and Kedro's --async hint."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.startswith(_SELF_LEVELLED):
            return False
        return not (
            record.name.startswith("kedro.runner")
            and str(record.msg).startswith(_KEDRO_HINTS)
        )


def configure() -> None:
    """Apply the quiet defaults, or undo conf/logging.yml's levels in verbose mode."""
    warnings_logger = logging.getLogger("py.warnings")
    handlers = logging.getLogger().handlers
    if verbose():
        for handler in handlers:
            for existing in list(handler.filters):
                if isinstance(existing, LibraryChatter):
                    handler.removeFilter(existing)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("mlflow").setLevel(logging.INFO)
        logging.getLogger("imagegen").setLevel(logging.DEBUG)
        for existing in list(warnings_logger.filters):
            if isinstance(existing, ProjectWarningsOnly):
                warnings_logger.removeFilter(existing)
        return
    for key, value in _QUIET_ENV.items():
        if not os.environ.get(key):  # a value the user set wins
            os.environ[key] = value
    _filter_native_stderr()
    # MLflow configured its logger when it was imported (kedro-mlflow loads it
    # before the project), from MLFLOW_LOGGING_LEVEL as it was then.
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # conf/logging.yml holds warnings at ERROR until this filter is in place: a
    # library imported before the project would otherwise have printed its own.
    warnings_logger.setLevel(logging.WARNING)
    if not any(isinstance(f, ProjectWarningsOnly) for f in warnings_logger.filters):
        warnings_logger.addFilter(ProjectWarningsOnly())
    for handler in handlers:
        if not any(isinstance(f, LibraryChatter) for f in handler.filters):
            handler.addFilter(LibraryChatter())


def _filter_native_stderr() -> None:
    """Route the C/C++ libraries' stderr (fd 2) through `_NATIVE_NOISE`.

    Python keeps writing to the original stderr directly (a duplicate of fd 2), so
    its messages and tracebacks never wait on the filter thread. Not under pytest
    or a notebook kernel, which capture stderr themselves.
    """
    if _native_filter["on"] or "pytest" in sys.modules or os.name != "posix":
        return
    try:
        # A notebook kernel (or any host) that already redirected stderr keeps it.
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    sys.stderr = os.fdopen(os.dup(original), "w", buffering=1, errors="replace")
    _native_filter["on"] = True

    def pump() -> None:
        rest = b""
        with os.fdopen(read_end, "rb", buffering=0) as source:
            while chunk := source.read(65536):
                *lines, rest = (rest + chunk).split(b"\n")
                kept = b"".join(
                    line + b"\n" for line in lines if not _NATIVE_NOISE.match(line)
                )
                if kept:
                    os.write(original, kept)
        if rest and not _NATIVE_NOISE.match(rest):
            os.write(original, rest)

    threading.Thread(target=pump, name="imagegen-native-stderr", daemon=True).start()
