#!/usr/bin/env bash
# The offline checks of everything that deploys: the chart, the rendered
# manifests, the workflows, the Dockerfile, skaffold.yaml and compose.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$(bash scripts/tools.sh)"
export PATH="$bin:$PATH"

echo "check: helm lint --strict"
helm lint --strict helm/skybook >/dev/null
helm lint --strict helm/skybook --set autoscaling.class=hpa --set existingSecret=mine --set domain=example.com >/dev/null
echo "check: yamllint"
yamllint -s knative skaffold.yaml docker-compose.yml .github/workflows helm/skybook/values.yaml helm/skybook/Chart.yaml
echo "check: kubernetes-validate (core kinds)"
# Knative kinds have no schema here (they WARN and are checked below); any ERROR fails.
find knative -name '*.yaml' -print0 | xargs -0 kubernetes-validate --quiet
echo "check: Knative kinds"
TOOLS_NODE="$root/target/tools/node" node scripts/validate-knative.mjs knative
helm template skybook helm/skybook --set autoscaling.class=hpa --set domain=example.com --output-dir target/hpa-render >/dev/null
TOOLS_NODE="$root/target/tools/node" node scripts/validate-knative.mjs target/hpa-render
echo "check: actionlint, workflow schema"
actionlint .github/workflows/*.yml
check-jsonschema -q --builtin-schema vendor.github-workflows .github/workflows/*.yml
echo "check: hadolint"
hadolint Dockerfile
echo "check: skaffold.yaml"
check-jsonschema -q --schemafile scripts/skaffold.schema.json skaffold.yaml
echo "check: every deployment check passed"
