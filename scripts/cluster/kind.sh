#!/usr/bin/env bash
# Knative on a kind cluster made with .github/kind.yaml: Kourier on the
# node's port 31080 (mapped to the host's port 80), each Service at
# http://<name>.<namespace>.127.0.0.1.sslip.io, images loaded into kind
# (kind.local/...) used as they are, without a registry to resolve them in,
# and the CPU requests of a one-node test cluster (scripts/cluster/budget.json).
set -euo pipefail
cd "$(dirname "$0")"

queue_proxy_cpu="$(python3 -c 'import json; print(json.load(open("budget.json"))["kind"]["queueProxyCpu"])')"
kubectl patch service/kourier -n kourier-system --type merge \
  -p '{"spec":{"type":"NodePort","ports":[{"name":"http2","port":80,"protocol":"TCP","targetPort":8080,"nodePort":31080}]}}'
kubectl patch configmap/config-domain -n knative-serving --type merge -p '{"data":{"127.0.0.1.sslip.io":""}}'
kubectl patch configmap/config-deployment -n knative-serving --type merge \
  -p "{\"data\":{\"registries-skipping-tag-resolving\":\"kind.local,ko.local,dev.local\",\"queue-sidecar-cpu-request\":\"$queue_proxy_cpu\"}}"
python3 budget.py trim
