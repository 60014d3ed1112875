#!/usr/bin/env python3
"""Every published schema (schemas/*.json) is named, by its $id, as the
dataschema of an EventType the chart renders: no contract is unreachable.

    scripts/check-schemas.py RENDERED_CHART_DIR
"""

import glob
import json
import sys


def main():
    named = set()
    for path in glob.glob(sys.argv[1] + "/**/eventtypes.yaml", recursive=True):
        for line in open(path):
            if line.strip().startswith("value: urn:skybook:schema:"):
                named.add(line.split("value:", 1)[1].strip())
    ids = {json.load(open(path))["$id"]: path for path in glob.glob("schemas/*.json")}
    missing = sorted(path for schema, path in ids.items() if schema not in named)
    if missing or not ids:
        sys.exit(f"schemas no EventType names as its dataschema: {missing or 'no schemas at all'}")
    print(f"schemas: {len(ids)} published, each named by an EventType's dataschema")


if __name__ == "__main__":
    main()
