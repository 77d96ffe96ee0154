"""Validates an OpenAPI document with openapi-spec-validator (every $ref must resolve, every
schema must be valid) and prints its operations, one `METHOD PATH` a line."""

import json
import sys

from openapi_spec_validator import validate

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

with open(sys.argv[1], encoding="utf-8") as f:
    document = json.load(f)
validate(document)
for path, item in sorted(document["paths"].items()):
    for method in METHODS:
        if method in item:
            print(method.upper(), path)
