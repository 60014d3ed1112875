#!/usr/bin/env bash
# The offline checks of everything that deploys: the chart with each of its
# ci/ value files, the rendered manifests, the workflows, the Dockerfile,
# skaffold.yaml and compose.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$(bash scripts/tools.sh)"
export PATH="$bin:$PATH"
export TOOLS_NODE="$root/target/tools/node"

echo "check: helm template refuses to render without secrets or auth.disabled"
if out="$(helm template skybook helm/skybook 2>&1)"; then
  echo "the chart rendered with its defaults: it must ask for API keys or auth.disabled" >&2
  exit 1
fi
grep -q "set secret.AUTH_API_KEYS" <<<"$out" || { echo "unexpected refusal: $out" >&2; exit 1; }

renders="$root/target/renders"
rm -rf "$renders"
for values in helm/skybook/ci/*-values.yaml; do
  name="$(basename "$values" -values.yaml)"
  echo "check: helm lint --strict, render and validate with ci/$name-values.yaml"
  helm lint --strict helm/skybook --namespace skybook --values "$values" >/dev/null
  helm template skybook helm/skybook --namespace skybook --values "$values" --output-dir "$renders/$name" >/dev/null
  # Knative and operator kinds have no schema there (their WARN is dropped); any ERROR fails.
  find "$renders/$name" -name '*.yaml' -print0 | xargs -0 kubernetes-validate --quiet 2>&1 | { grep -v "^WARN .*Couldn't find schema" || true; }
  node scripts/validate-kinds.mjs "$renders/$name"
done
echo "check: yamllint"
yamllint -s knative skaffold.yaml docker-compose.yml .github/workflows scripts/cluster/jaeger.yaml functions/*/func helm/skybook/values.yaml helm/skybook/Chart.yaml helm/skybook/ci helm/skybook/files/alerts.yaml
echo "check: promtool check rules, the dashboard's JSON"
promtool check rules helm/skybook/files/alerts.yaml
python3 -m json.tool helm/skybook/files/dashboard.json >/dev/null
echo "check: kubernetes-validate and the Knative kinds of knative/"
find knative -name '*.yaml' -print0 | xargs -0 kubernetes-validate --quiet 2>&1 | { grep -v "^WARN .*Couldn't find schema" || true; }
node scripts/validate-kinds.mjs knative
echo "check: every published schema is a valid JSON Schema, named by an EventType stored as written"
check-jsonschema --check-metaschema schemas/*.json
"$root/target/tools/venv/bin/python" scripts/check-schemas.py "$renders/knative"
echo "check: the OpenAPI documents (openapi-spec-validator) and the AsyncAPI document (the AsyncAPI parser)"
openapi-spec-validator schemas/api/openapi/*.json >/dev/null
node scripts/check-asyncapi.mjs schemas/api/asyncapi.json
echo "check: kubernetes-validate the kind job's Jaeger"
kubernetes-validate --quiet scripts/cluster/jaeger.yaml
for script in scripts/cluster/*.py; do
  python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" "$script"
done
echo "check: actionlint, workflow schema"
actionlint .github/workflows/*.yml
check-jsonschema -q --builtin-schema vendor.github-workflows .github/workflows/*.yml
echo "check: hadolint, shellcheck"
hadolint Dockerfile
shellcheck scripts/*.sh scripts/cluster/*.sh scripts/release/*.sh .ci/run
echo "check: skaffold.yaml"
check-jsonschema -q --schemafile scripts/skaffold.schema.json skaffold.yaml
# func's schema as knative/func publishes it at knative-v1.19.0 (in its
# repository only); CI checks this copy against that file.
echo "check: every func.yaml against func's schema (func 1.19)"
check-jsonschema -q --schemafile scripts/func_yaml-schema.json functions/*/func/*/func.yaml
echo "check: every deployment check passed"
