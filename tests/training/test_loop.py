"""Training runs on real digits with the smoke sizes: every family, resume, guards."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from imagegen.models import generate_images, latent_noise
from imagegen.training.checkpoints import CheckpointMismatch, CheckpointStore
from imagegen.training.loop import NonFiniteLossError, TrainingCollapsedError, train
from tests.training.digits import digits_training_set


class AtStep(keras.callbacks.Callback):
    """Calls `action(model)` after global step `step` (counted from this fit)."""

    def __init__(self, step: int, action):
        super().__init__()
        self.step, self.action, self.seen = step, action, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            self.action(self.model)


def _zero_generator_output(model):
    for weight in model.generator.layers[-1].weights:
        weight.assign(np.zeros(weight.shape, dtype="float32"))


def crash(model):
    raise KeyboardInterrupt("simulated kill")


@pytest.mark.parametrize("family", ["dcgan", "cgan", "wgan_gp", "vae"])
def test_each_model_trains_one_smoke_epoch(family, smoke_params, tmp_path):
    params = smoke_params(model=family)
    result = train(digits_training_set(), params)
    assert [h["epoch"] for h in result.history] == [1]
    assert all(np.isfinite(v) for v in result.history[0].values())
    assert result.summary["steps"] == result.summary["steps_per_epoch"] > 0
    assert result.summary["devices"]
    assert result.grids[1].dtype == np.uint8
    # The generator (the VAE's decoder) saves and reloads with identical output.
    path = tmp_path / "generator.keras"
    result.model.generator.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    noise = latent_noise(0, 6, params.latent_dim)
    labels = np.arange(6) % 10 if family == "cgan" else None
    before = generate_images(result.model.generator, noise, labels)
    after = generate_images(reloaded, noise, labels)
    np.testing.assert_array_equal(before, after)
    assert before.shape == (6, 28, 28, 1)
    assert before.min() >= -1.0 and before.max() <= 1.0
    assert (
        CheckpointStore(tmp_path / "checkpoints" / family).latest().step
        == (result.summary["steps"])
    )


def test_resume_after_a_kill_matches_an_uninterrupted_run(smoke_params):
    # 256 digits, batch 64: 4 steps per epoch; checkpoints at steps 3, 6, 9, 12.
    straight = train(
        digits_training_set(),
        smoke_params(epochs=3, checkpoint_every_n_steps=3, run_name="straight"),
    )
    params = smoke_params(epochs=3, checkpoint_every_n_steps=3, run_name="killed")
    with pytest.raises(KeyboardInterrupt):
        train(digits_training_set(), params, extra_callbacks=(AtStep(7, crash),))
    store = CheckpointStore(params.checkpoint_dir + "/killed")
    assert store.latest().step == 6  # mid-epoch 2: one interval lost at most
    resumed = train(digits_training_set(), params.model_copy(update={"resume": True}))
    assert resumed.summary["resumed_from_step"] == 6
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    # Same batches, noise and dropout masks; CPU kernels may still sum in
    # another order (about 1e-6 apart), hence a float tolerance.
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    for a, b in zip(straight.model.variables, resumed.model.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)


def test_resume_refuses_a_checkpoint_of_other_settings(smoke_params):
    train(digits_training_set(), smoke_params())
    changed = smoke_params(resume=True, dcgan={"generator_filters": 4})
    with pytest.raises(CheckpointMismatch, match=r"training\.dcgan\.generator_filters"):
        train(digits_training_set(), changed)


def test_a_fresh_run_replaces_old_checkpoints(smoke_params):
    train(digits_training_set(), smoke_params(epochs=2, checkpoint_every_n_steps=1))
    params = smoke_params(checkpoint_every_n_steps=0)
    train(digits_training_set(), params)
    steps = [
        step for step, _ in CheckpointStore(params.checkpoint_dir + "/dcgan").paths()
    ]
    assert steps == [4]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(smoke_params):
    def poison(model):
        kernel = model.discriminator.weights[0]
        kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    params = smoke_params(epochs=3, checkpoint_every_n_steps=2)
    with pytest.raises(NonFiniteLossError) as info:
        train(digits_training_set(), params, extra_callbacks=(AtStep(5, poison),))
    message = str(info.value)
    assert "d_loss = nan" in message
    assert "at step 6 (epoch 2)" in message
    assert "ckpt-000000004.npz (step 4)" in message
    assert "training.resume=true" in message
    latest = CheckpointStore(params.checkpoint_dir + "/dcgan").latest()
    assert latest.step == 4
    assert all(
        np.isfinite(a).all() for a in latest.arrays.values() if a.dtype.kind == "f"
    )


def test_collapsed_samples_raise_a_warning(smoke_params, caplog):
    # The smoke nets reach a diversity of about 0.03 in epoch 1: twice 0.01.
    params = smoke_params(epochs=3, collapse_threshold=0.01)
    with caplog.at_level(logging.WARNING, logger="imagegen.training.callbacks"):
        result = train(
            digits_training_set(),
            params,
            extra_callbacks=(AtStep(8, _zero_generator_output),),
        )
    assert result.history[0]["sample_diversity"] > 0.02
    assert result.history[1]["sample_diversity"] == 0.0
    assert result.summary["collapse_warnings"] == [2, 3]
    assert "Possible mode collapse at epoch 2" in caplog.text


def test_wgan_gp_updates_the_critic_n_critic_times_per_generator_step(smoke_params):
    result = train(digits_training_set(), smoke_params(model="wgan_gp"))
    model, steps = result.model, result.summary["steps"]
    assert result.summary["images_per_step"] == 64 * 2
    assert int(model.d_optimizer.iterations.numpy()) == 2 * steps
    assert int(model.g_optimizer.iterations.numpy()) == steps


def test_mixed_precision_keeps_float32_outputs_and_restores_the_policy(smoke_params):
    result = train(digits_training_set(), smoke_params(mixed_precision=True))
    model = result.model
    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.generator.layers[-2].dtype_policy.name == "mixed_float16"
    assert model.generator.output.dtype == "float32"
    assert all(np.isfinite(v) for v in result.history[0].values())
    assert keras.config.dtype_policy().name == "float32"


def test_batch_is_capped_by_the_training_set(smoke_params):
    result = train(digits_training_set(n=40), smoke_params(batch_size=64))
    assert result.summary["batch_size"] == 40
    assert result.summary["steps_per_epoch"] == 1


def test_collapse_is_checked_every_n_steps_and_stop_keeps_the_last_good_checkpoint(
    smoke_params, caplog
):
    params = smoke_params(
        epochs=4,
        collapse_threshold=0.01,
        on_collapse="stop",
        collapse_check_every_n_steps=3,
        checkpoint_every_n_steps=2,
    )
    with caplog.at_level(logging.INFO, logger="imagegen.training.callbacks"):
        with pytest.raises(TrainingCollapsedError) as info:
            train(
                digits_training_set(),
                params,
                extra_callbacks=(AtStep(7, _zero_generator_output),),
            )
    message = str(info.value)
    assert "collapsed" in message
    assert "training.augment" in message and "training.on_collapse=warn" in message
    # 4 steps per epoch. Checks at steps 3, 4, 6 pass; 8 (the end of epoch 2)
    # and 9 are under the threshold: the second in a row stops the run.
    assert "at step 9 (epoch 3)" in message
    assert "Sample diversity" in caplog.text and "at step 3 " in caplog.text
    latest = CheckpointStore(params.checkpoint_dir + "/dcgan").latest()
    assert latest.step == 6  # the last one before the first collapsed check
    assert "step 6)" in message


def test_on_collapse_warn_warns_at_every_check_and_trains_on(smoke_params):
    params = smoke_params(
        epochs=3, collapse_threshold=0.01, collapse_check_every_n_steps=3
    )
    result = train(
        digits_training_set(),
        params,
        extra_callbacks=(AtStep(7, _zero_generator_output),),
    )
    assert result.summary["steps"] == 12  # 4 steps per epoch
    assert result.summary["collapse_warnings"] == [2, 3]
    assert result.summary["collapse_warning_steps"] == [9]
    assert [c["step"] for c in result.summary["diversity_checks"]] == [
        3,
        4,
        6,
        8,
        9,
        12,
    ]


@pytest.mark.parametrize("augment", ["diffaugment", "ada"])
def test_ema_generator_is_what_the_training_node_returns(augment, smoke_params):
    from imagegen.pipelines.training.nodes import train_model

    params = smoke_params(epochs=2, ema_decay=0.9, augment=augment)
    generator, metrics, _, summary = train_model(
        digits_training_set(), params.model_dump()
    )
    assert summary["ema_decay"] == 0.9 and summary["augment"] == augment
    result = train(digits_training_set(), params)
    raw, ema = result.model.generator, result.model.ema_generator
    assert result.model.sampling_generator is ema
    differs = [
        not np.allclose(a, b)
        for a, b in zip(raw.get_weights(), ema.get_weights(), strict=True)
    ]
    assert any(differs)
    # The node's generator is the EMA copy of the same run (training is seeded).
    for mine, theirs in zip(generator.get_weights(), ema.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
    if augment == "ada":
        assert "ada_p" in metrics and "ada_r_t" in metrics
