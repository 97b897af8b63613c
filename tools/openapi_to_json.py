#!/usr/bin/env python3
"""Converts api/openapi.yaml to the JSON document the service serves at /openapi.json.

Run by the build (cmake/docs.cmake). PyYAML reads YAML 1.1, where unquoted `on`, `yes` or
`2024-01-01` become booleans and dates; such values have no JSON form, so they fail the build
instead of turning silently into something else.

Usage: openapi_to_json.py INPUT.yaml OUTPUT.json
"""
import datetime
import json
import os
import sys

import yaml


def to_json_value(node, where):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise ValueError(f"{where}: key {key!r} is not a string; quote it")
            out[str(key)] = to_json_value(value, f"{where}/{key}")
        return out
    if isinstance(node, list):
        return [to_json_value(v, f"{where}/{i}") for i, v in enumerate(node)]
    if isinstance(node, (datetime.date, datetime.datetime, bytes)):
        raise ValueError(f"{where}: {node!r} is not a JSON value; quote it")
    if isinstance(node, float) and (node != node or node in (float("inf"), float("-inf"))):
        raise ValueError(f"{where}: {node!r} is not a JSON number")
    return node


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    with open(src, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    if not isinstance(document, dict) or "openapi" not in document or "paths" not in document:
        print(f"{src}: not an OpenAPI document", file=sys.stderr)
        return 1
    try:
        document = to_json_value(document, "#")
    except ValueError as e:
        print(f"{src}: {e}", file=sys.stderr)
        return 1
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, dst)  # never leave a half-written file for the next step
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
