#!/usr/bin/env bash
# What Skybook needs on a Kubernetes cluster before `helm install`, at the
# versions it is tested with (the kind job in CI runs exactly this):
# Knative Serving with Kourier, Knative Eventing, cert-manager, the RabbitMQ
# cluster and messaging topology operators, the RabbitMQ broker, and the
# CloudNativePG operator. Needs kubectl pointed at the cluster.
# HPA=1: also Serving's HPA autoscaler, for autoscaling.class=hpa.
set -euo pipefail

SERVING=knative-v1.19.9
KOURIER=knative-v1.19.6
EVENTING=knative-v1.19.7
RABBITMQ_BROKER=knative-v1.19.7
CERT_MANAGER=v1.16.1
RABBITMQ_CLUSTER_OPERATOR=v2.15.0
RABBITMQ_TOPOLOGY_OPERATOR=v1.17.4
CLOUDNATIVE_PG=1.27.1

say() { printf 'prerequisites: %s\n' "$*"; }
ready() { kubectl wait deployment --all --for=condition=Available --timeout=10m -n "$1"; }

say "Knative Serving $SERVING, Kourier $KOURIER"
kubectl apply -f "https://github.com/knative/serving/releases/download/$SERVING/serving-crds.yaml"
kubectl apply -f "https://github.com/knative/serving/releases/download/$SERVING/serving-core.yaml"
kubectl apply -f "https://github.com/knative-extensions/net-kourier/releases/download/$KOURIER/kourier.yaml"
kubectl patch configmap/config-network -n knative-serving --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
if [ -n "${HPA:-}" ]; then
  kubectl apply -f "https://github.com/knative/serving/releases/download/$SERVING/serving-hpa.yaml"
fi
ready knative-serving
ready kourier-system

say "Knative Eventing $EVENTING"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$EVENTING/eventing-crds.yaml"
kubectl apply -f "https://github.com/knative/eventing/releases/download/$EVENTING/eventing-core.yaml"
ready knative-eventing

say "cert-manager $CERT_MANAGER, RabbitMQ operators $RABBITMQ_CLUSTER_OPERATOR and $RABBITMQ_TOPOLOGY_OPERATOR"
kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER/cert-manager.yaml"
ready cert-manager
kubectl apply -f "https://github.com/rabbitmq/cluster-operator/releases/download/$RABBITMQ_CLUSTER_OPERATOR/cluster-operator.yml"
ready rabbitmq-system
kubectl apply -f "https://github.com/rabbitmq/messaging-topology-operator/releases/download/$RABBITMQ_TOPOLOGY_OPERATOR/messaging-topology-operator-with-certmanager.yaml"
ready rabbitmq-system

say "the RabbitMQ broker $RABBITMQ_BROKER"
kubectl apply -f "https://github.com/knative-extensions/eventing-rabbitmq/releases/download/$RABBITMQ_BROKER/rabbitmq-broker.yaml"
ready knative-eventing

say "CloudNativePG $CLOUDNATIVE_PG"
kubectl apply --server-side -f \
  "https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/release-${CLOUDNATIVE_PG%.*}/releases/cnpg-$CLOUDNATIVE_PG.yaml"
ready cnpg-system
say "done"
