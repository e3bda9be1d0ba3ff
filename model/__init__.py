"""The classifier core: attention layer, network, tokenizers, vocabulary, bundles and the Predictor."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
