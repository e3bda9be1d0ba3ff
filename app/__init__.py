"""The HTTP service: FastAPI app serving a model bundle through `model.predictor.Predictor`."""
