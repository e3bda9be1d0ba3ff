"""Offline training, evaluation and reports; writes bundles that model.Bundle loads."""

import model  # noqa: F401  (sets the Keras backend and TensorFlow's log level before anything imports Keras)
