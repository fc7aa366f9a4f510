"""The JAX backend: training without TensorFlow, `training.backend`, NumPy batches.

Keras fixes its backend at import, so every JAX run here is a subprocess with
`KERAS_BACKEND=jax`; the in-process tests run on the default TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# At collection: importing the hooks imports kedro.framework.project, which sets
# up Kedro's logging on the stderr of that moment (inside a test, pytest's
# capture file, closed when the test ends).
from imagegen.hooks.validation import CONFIGURATION_EXIT, ConfigValidationHooks
from imagegen.training.data import epoch_order, numpy_batches
from imagegen.training.runtime import (
    BackendMismatch,
    check_backend,
    resolve_precision,
)
from tests.conftest import PROJECT_ROOT

pytest.importorskip("jax")

# Makes `import tensorflow` fail in the child, as on a machine without it.
BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
            return None

    sys.meta_path.insert(0, NoTensorFlow())
    """
)


def run_jax(code: str, timeout: int = 900) -> dict:
    """Run `code` under KERAS_BACKEND=jax with TensorFlow blocked; its last line is JSON."""
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join(
            [str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)]
            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
        "JAX_PLATFORMS": "cpu",
    }
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_TENSORFLOW + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_training_library_imports_without_tensorflow():
    result = run_jax(
        """
        import json, sys
        import keras
        import imagegen.training, imagegen.training.loop, imagegen.models
        import imagegen.models.stateless, imagegen.pipelines.training.nodes
        print(json.dumps({"backend": keras.backend.backend(),
                          "tensorflow": "tensorflow" in sys.modules}))
        """
    )
    assert result == {"backend": "jax", "tensorflow": False}


def test_a_backend_other_than_the_process_one_stops_the_run_at_start():
    assert check_backend("auto") == "tensorflow"
    assert check_backend("tensorflow") == "tensorflow"
    with pytest.raises(BackendMismatch, match="KERAS_BACKEND=jax") as error:
        check_backend("jax")
    assert "training.backend" in str(error.value)
    assert "auto, tensorflow, jax" in str(error.value)
    with pytest.raises(BackendMismatch, match="allowed values"):
        check_backend("torch")


def test_mixed_precision_is_float16_on_tensorflow_and_auto_is_off_on_cpu():
    assert resolve_precision(True) == "mixed_float16"
    assert resolve_precision(False) == "float32"
    assert resolve_precision("auto") == "float32"  # no GPU here


def test_numpy_batches_are_seeded_permutations_that_resume_mid_run():
    images = np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1)
    labels = np.arange(20, dtype=np.int32)
    full = list(numpy_batches(images, labels, 4, seed=7, start_step=0, epochs=3))
    assert len(full) == 15
    for epoch in range(3):
        seen = np.concatenate([b[1] for b in full[epoch * 5 : epoch * 5 + 5]])
        np.testing.assert_array_equal(np.sort(seen), labels)
        np.testing.assert_array_equal(seen, epoch_order(20, 7, epoch))
    assert not np.array_equal(epoch_order(20, 7, 0), epoch_order(20, 7, 1))
    for image_batch, label_batch in full:
        np.testing.assert_array_equal(image_batch.reshape(-1), label_batch)
    resumed = list(numpy_batches(images, labels, 4, seed=7, start_step=7, epochs=3))
    assert len(resumed) == 8
    for a, b in zip(resumed, full[7:], strict=True):
        np.testing.assert_array_equal(a[1], b[1])
    other_seed = list(numpy_batches(images, None, 4, seed=8, start_step=0, epochs=1))
    assert not np.array_equal(other_seed[0], full[0][0])


@pytest.mark.slow
def test_every_family_trains_on_jax_without_tensorflow_and_resumes_exactly(tmp_path):
    """A smoke epoch per family on digits, then a killed dcgan run resumed on JAX."""
    result = run_jax(
        f"""
        import json, sys, tempfile
        from pathlib import Path
        import keras, numpy as np
        from imagegen.models import generate_images, latent_noise
        from imagegen.training.loop import train
        from tests.training.conftest import smoke_training_params
        from tests.training.digits import digits_training_set

        out = {{}}
        root = Path({str(tmp_path)!r})
        data = digits_training_set(128, size=16)
        for family in ["dcgan", "cgan", "wgan_gp", "vae"]:
            extra = {{"augment": "ada", "ema_decay": 0.9}} if family == "dcgan" else {{}}
            if family == "cgan":
                extra = {{"augment": "diffaugment", "cgan": {{"minibatch_std": True}}}}
            params = smoke_training_params(root / family, model=family, **extra)
            trained = train(data, params)
            path = root / (family + ".keras")
            trained.model.sampling_generator.save(path)
            reloaded = keras.saving.load_model(path, compile=False)
            noise = latent_noise(0, 4, params.latent_dim)
            labels = np.arange(4) % 10 if family == "cgan" else None
            same = np.array_equal(
                generate_images(reloaded, noise, labels),
                generate_images(trained.model.sampling_generator, noise, labels),
            )
            out[family] = {{"final": trained.summary["final"], "reloads": bool(same),
                           "backend": trained.summary["backend"],
                           "steps": trained.summary["steps"]}}

        def run(params):
            return train(data, params)

        whole = run(smoke_training_params(root / "whole", model="dcgan", epochs=2,
                                          batch_size=16,
                                          augment="ada", ema_decay=0.9))
        class Kill(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch == 2:
                    raise KeyboardInterrupt
        cut = smoke_training_params(root / "cut", model="dcgan", epochs=2,
                                    batch_size=16,
                                    augment="ada", ema_decay=0.9,
                                    checkpoint_every_n_steps=1)
        try:
            train(data, cut, extra_callbacks=(Kill(),))
        except KeyboardInterrupt:
            pass
        resumed = train(data, cut.model_copy(update={{"resume": True}}))
        noise = latent_noise(1, 4, 16)
        out["resume"] = {{
            "from": resumed.summary["resumed_from_step"],
            "history_equal": whole.history == resumed.history,
            "samples_equal": bool(np.allclose(
                generate_images(whole.model.sampling_generator, noise),
                generate_images(resumed.model.sampling_generator, noise),
                atol=1e-6)),
        }}
        out["tensorflow"] = "tensorflow" in sys.modules
        print(json.dumps(out))
        """,
    )
    assert result["tensorflow"] is False
    for family in ("dcgan", "cgan", "wgan_gp", "vae"):
        entry = result[family]
        assert entry["backend"] == "jax"
        assert entry["steps"] > 0
        assert all(np.isfinite(v) for v in entry["final"].values()), entry
        assert entry["reloads"], family
    assert result["dcgan"]["final"]["ada_p"] >= 0
    assert result["resume"] == {
        "from": 3,
        "history_equal": True,
        "samples_equal": True,
    }


def test_a_training_run_on_the_wrong_backend_stops_before_any_node(capfd):
    from kedro.pipeline import Node, Pipeline

    def identity(x):
        return x

    training = Pipeline([Node(identity, "a", "b", name="train_model")])
    curation = Pipeline([Node(identity, "a", "b", name="inventory_works")])
    hooks = ConfigValidationHooks()
    hooks._backend = "jax"
    with pytest.raises(SystemExit) as stopped:
        hooks.before_pipeline_run({}, training, None)
    assert stopped.value.code == CONFIGURATION_EXIT
    [line] = capfd.readouterr().err.splitlines()  # one line, no traceback
    assert "KERAS_BACKEND=jax" in line
    hooks.before_pipeline_run({}, curation, None)  # no training: no check
    hooks._backend = "tensorflow"
    hooks.before_pipeline_run({}, training, None)
