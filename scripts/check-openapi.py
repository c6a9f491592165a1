#!/usr/bin/env python3
"""Validates a running chroma-rs server's /openapi.json with openapi-spec-validator (OpenAPI 3.1)
and checks that /docs is an HTML page.

usage: <tools venv>/bin/python scripts/check-openapi.py http://127.0.0.1:8000
(the venv: bash scripts/setup-venvs.sh tools; scripts/test.sh's api step runs this)
"""
import json
import sys
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def main():
    base = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    status, ctype, text = fetch(base + "/openapi.json")
    assert status == 200 and ctype.startswith("application/json"), (status, ctype)
    doc = json.loads(text)
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    validate(doc, cls=OpenAPIV31SpecValidator)
    ops = sum(len(item) for item in doc["paths"].values())
    for path, method in [("/api/v2/heartbeat", "get"), ("/api/v1/collections", "post"),
                         ("/api/v2/tenants/{tenant}/databases/{db}/collections/{coll}/query", "post")]:
        assert method in doc["paths"].get(path, {}), f"{method.upper()} {path} missing"
    status, ctype, page = fetch(base + "/docs")
    assert status == 200 and ctype.startswith("text/html") and "/openapi.json" in page, (status, ctype)
    print(f"openapi.json: valid OpenAPI {doc['openapi']}, {len(doc['paths'])} paths, {ops} operations, "
          f"{len(doc['components']['schemas'])} schemas; /docs: HTML, {len(page)} bytes")


if __name__ == "__main__":
    main()
