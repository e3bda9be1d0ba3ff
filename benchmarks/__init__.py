"""Benchmarks of the predictor, the HTTP service and training; each writes benchmarks/results/<name>.json|.md."""
