"""Benchmarks of the predictor, the HTTP service and training; each writes benchmarks/results/<name>.json|.md."""

from model.native_log import native_output_logged  # importing model sets the Keras backend first

with native_output_logged():  # TensorFlow prints C++ log lines to fd 2 when it is imported: log them instead
    import keras  # noqa: F401
