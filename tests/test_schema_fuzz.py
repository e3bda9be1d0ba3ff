"""Schema-driven fuzzing (schemathesis) of /openapi.json in process: no 500, answers conform to the schema.

`positive_data_acceptance` is excluded: the schema cannot state the configurable limits (MAX_TEXT_CHARS,
MAX_BATCH_TEXTS) nor the refusal of blank texts and control characters, so a schema-valid body may get a 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import create_app
from app.settings import Settings


@pytest.fixture(scope="module")
def started_app(tiny_bundle: Path) -> Iterator[FastAPI]:
    app = create_app(Settings(MODEL_DIR=tiny_bundle))
    with TestClient(app):  # runs the lifespan: the model is loaded while schemathesis calls the app
        yield app


OPERATIONS = ["POST /v1/predict", "POST /v1/predict/batch", "GET /v1/model", "GET /healthz", "GET /readyz"]


def test_the_schema_lists_the_public_operations(started_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", started_app)
    listed = {f"{op.method.upper()} {op.path}" for op in (result.ok() for result in schema.get_all_operations())}
    assert listed == set(OPERATIONS)


# The schema is loaded inside the test (schemathesis' pytest fixture loader does not work with pytest 9).
@pytest.mark.parametrize("operation", OPERATIONS)
def test_api_conforms_to_its_schema(started_app: FastAPI, operation: str) -> None:
    method, path = operation.split(" ")
    api_operation = schemathesis.openapi.from_asgi("/openapi.json", started_app)[path][method]

    @given(case=api_operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    conforms()
