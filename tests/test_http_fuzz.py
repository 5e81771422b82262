"""schemathesis against the served OpenAPI document: generated requests for every
operation (bounded in examples), no 5xx, every response as the document says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.test_http import TOKEN, Server

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# No 5xx; every status, content type and body as documented. (Not checked: that each
# schema-valid request is accepted: a step path the schema allows may name no step,
# and the engine's refusal, a 422 or a "skipped", is the documented answer.)
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    server = Server(f"sqlite:///{db}", "--max-body", "100000")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        assert "Traceback" not in server.output(), server.output()


def test_every_operation_answers_as_documented(served: Server) -> None:
    """For each operation in turn, generated requests (valid and not); any failure of
    schemathesis's checks (a 5xx, an undocumented status, a body off its schema)
    fails the test with the request that caused it."""
    api = schemathesis.openapi.from_url(f"{served.base}/schema/openapi.json", headers=AUTH)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers=AUTH, timeout=30, checks=CHECKS)

        check()


def test_the_exported_document_is_the_served_one(served: Server) -> None:
    import json

    import httpx

    served_doc = httpx.get(f"{served.base}/schema/openapi.json", headers=AUTH).json()
    exported = Path(__file__).resolve().parent.parent / "docs" / "reference" / "openapi.json"
    assert json.loads(exported.read_text()) == served_doc, (
        "docs/reference/openapi.json is stale: python -m durable.http.openapi > "
        "docs/reference/openapi.json")
