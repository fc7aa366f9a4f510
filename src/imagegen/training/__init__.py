"""The training loop: data, runtime, callbacks, checkpoints (a library the training pipeline calls)."""
