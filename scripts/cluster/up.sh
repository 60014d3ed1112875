#!/usr/bin/env bash
# Skybook on a kind cluster from nothing, the path the kind job of CI runs:
# the cluster (.github/kind.yaml: Kourier on the host's port 80), Knative and
# the operators at their pinned versions, each Service at
# http://<name>.skybook.127.0.0.1.sslip.io, the commit's images, the chart
# (which makes PostgreSQL, RabbitMQ and Redis), and the smoke test against
# those URLs from this host.
#
#   scripts/cluster/up.sh
#
# Needs docker (with buildx), kind, kubectl, helm, openssl and python3.
# SKIP_CLUSTER=1: use the kind cluster `skybook` as it is (CI makes it).
# SKIP_IMAGES=1: the images kind.local/skybook/<name>:$TAG are in docker already.
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${TAG:-$(git rev-parse HEAD)}"
export TAG REPOSITORY=kind.local/skybook
admin="${ADMIN_KEY:-$(openssl rand -hex 24)}"
agent="${AGENT_KEY:-$(openssl rand -hex 24)}"

if [ -z "${SKIP_CLUSTER:-}" ]; then
  kind get clusters | grep -qx skybook || kind create cluster --name skybook --config .github/kind.yaml
fi
bash scripts/cluster/prerequisites.sh
bash scripts/cluster/kind.sh

if [ -z "${SKIP_IMAGES:-}" ]; then
  # Without provenance: kind cannot load an image list with attestations.
  docker buildx bake --file docker-bake.json --load --provenance=false
fi
docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$REPOSITORY/.*:$TAG$" | xargs -n1 kind load docker-image --name skybook

helm upgrade --install skybook helm/skybook --namespace skybook --create-namespace \
  --values helm/skybook/ci/fresh-cluster-values.yaml \
  --set secret.AUTH_API_KEYS="admin:$admin\,agent:$agent" \
  --set image.repository="$REPOSITORY" --set image.tag="$TAG" \
  "$@" --wait --timeout 15m
kubectl wait ksvc --all -n skybook --for=condition=Ready --timeout=10m
# Every function has its first pod now: the most the cluster asks for.
python3 scripts/cluster/budget.py report

mkdir -p target
kubectl get ksvc -n skybook -o json > target/ksvc.json
python3 scripts/smoke.py target/ksvc.json --key "admin=$admin" --key "agent=$agent" --stats-timeout 180
echo "up: every function answers at http://<name>.skybook.127.0.0.1.sslip.io"
echo "up: admin key $admin, agent key $agent"
