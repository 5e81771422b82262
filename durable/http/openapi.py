"""``python -m durable.http.openapi``: print the HTTP API's OpenAPI document (the one
``durable serve`` answers at ``/schema/openapi.json``), e.g. to commit it to
``docs/reference/openapi.json``."""

from __future__ import annotations

import json
from typing import Any

from durable.engine import Engine
from durable.http.app import create_app


def document() -> dict[str, Any]:
    app = create_app(Engine("memory://"), work=False)
    return app.openapi_schema.to_schema()


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
