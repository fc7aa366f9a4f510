"""A small digit classifier, to check that cgan samples show the requested class."""

from __future__ import annotations

import numpy as np


def train_classifier(images: np.ndarray, labels: np.ndarray, n_classes: int, seed=0):
    """Two stride-2 convolutions and a softmax; a few epochs reach ~97% on digits."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(images.shape[1:]),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(n_classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(images, labels, batch_size=64, epochs=8, verbose=0)
    return model


def class_agreement(generator, classifier, n_classes: int, per_class: int, seed=0):
    """Fraction of generated images the classifier assigns to the requested class."""
    from imagegen.models import generate_images, generator_spec, latent_noise

    latent_dim, _ = generator_spec(generator)
    requested = np.repeat(np.arange(n_classes), per_class)
    noise = latent_noise(seed, len(requested), latent_dim)
    samples = generate_images(generator, noise, requested)
    predicted = np.argmax(np.asarray(classifier.predict(samples, verbose=0)), axis=1)
    per_class_agreement = [
        float(np.mean(predicted[requested == c] == c)) for c in range(n_classes)
    ]
    return float(np.mean(predicted == requested)), per_class_agreement
