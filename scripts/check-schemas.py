#!/usr/bin/env python3
"""The EventTypes the chart renders, against Knative Eventing's own CRD
(scripts/crds/eventtype.yaml): each is written in the version the API server
stores, so no conversion drops a field, and declares no field that version's
schema would prune. And every published schema (schemas/*.json) is named,
by its $id, as the schema of one of them: no contract is unreachable.

    scripts/check-schemas.py RENDERED_CHART_DIR
"""

import glob
import json
import sys

import yaml


def undeclared(value, schema, path):
    """The fields of `value` its structural schema does not declare (pruned on write)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                found.append(f"{path}.{key}")
            else:
                found += undeclared(item, properties[key], f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += undeclared(item, schema.get("items", {}), f"{path}[{i}]")
    return found


def main():
    crd = next(d for d in yaml.safe_load_all(open("scripts/crds/eventtype.yaml")) if d)
    versions = {f"{crd['spec']['group']}/{v['name']}": v for v in crd["spec"]["versions"]}
    named = set()
    problems = []
    for path in glob.glob(sys.argv[1] + "/**/eventtypes.yaml", recursive=True):
        for doc in yaml.safe_load_all(open(path)):
            if not doc:
                continue
            name = doc["metadata"]["name"]
            version = versions.get(doc["apiVersion"])
            if version is None or not version.get("storage"):
                problems.append(f"{name}: {doc['apiVersion']} is not the version Eventing stores")
                continue
            schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
            problems += [f"{name}: {field} is pruned on write" for field in undeclared(doc["spec"], schema, "spec")]
            named.add(doc["spec"].get("schema"))
    ids = {json.load(open(path))["$id"]: path for path in glob.glob("schemas/*.json")}
    missing = sorted(path for schema, path in ids.items() if schema not in named)
    if missing or not ids:
        problems.append(f"schemas no EventType names: {missing or 'no schemas at all'}")
    if problems:
        sys.exit("eventtypes: " + "; ".join(problems))
    print(f"schemas: {len(ids)} published, each named by an EventType stored as written")


if __name__ == "__main__":
    main()
