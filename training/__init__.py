"""Offline training, evaluation and reports; writes bundles that model.Bundle loads."""
