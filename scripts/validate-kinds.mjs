// Validates every Knative and CloudNativePG object under the given
// directories against the @kubernetes-models schemas (kubernetes-validate
// knows only core kinds). Exits 1 on the first invalid object. Kinds with no
// model here (EventType v1beta2, checked by check-schemas.py against its CRD;
// RabbitmqCluster, RabbitmqBrokerConfig) are
// listed, not checked.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.TOOLS_NODE, "package.json"));
const yaml = require("js-yaml");
const cnpg = await import(path.join(process.env.TOOLS_NODE,
  "node_modules/@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/index.js"));
const models = {
  "postgresql.cnpg.io/v1/Cluster": cnpg.Cluster,
  "postgresql.cnpg.io/v1/Pooler": cnpg.Pooler,
  "serving.knative.dev/v1/Service": require("@kubernetes-models/knative/serving.knative.dev/v1/Service").Service,
  "networking.internal.knative.dev/v1alpha1/ClusterDomainClaim": require("@kubernetes-models/knative/networking.internal.knative.dev/v1alpha1/ClusterDomainClaim").ClusterDomainClaim,
  "serving.knative.dev/v1beta1/DomainMapping": require("@kubernetes-models/knative/serving.knative.dev/v1beta1/DomainMapping").DomainMapping,
  "eventing.knative.dev/v1/Broker": require("@kubernetes-models/knative/eventing.knative.dev/v1/Broker").Broker,
  "eventing.knative.dev/v1/Trigger": require("@kubernetes-models/knative/eventing.knative.dev/v1/Trigger").Trigger,
  "sources.knative.dev/v1/PingSource": require("@kubernetes-models/knative/sources.knative.dev/v1/PingSource").PingSource,
  "sources.knative.dev/v1/SinkBinding": require("@kubernetes-models/knative/sources.knative.dev/v1/SinkBinding").SinkBinding,
};

function files(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".yaml") ? [path.join(dir, e.name)] : []);
}

let checked = 0;
const unchecked = new Set();
for (const dir of process.argv.slice(2)) {
  for (const file of files(dir)) {
    for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
      if (!doc) continue;
      const Model = models[`${doc.apiVersion}/${doc.kind}`];
      if (!Model) {
        if (/knative\.dev|rabbitmq\.com|cnpg\.io/.test(doc.apiVersion)) unchecked.add(`${doc.apiVersion}/${doc.kind}`);
        continue;
      }
      try {
        new Model(doc).validate();
        checked++;
      } catch (e) {
        console.error(`${file}: ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
        process.exit(1);
      }
    }
  }
}
console.log(`kinds: ${checked} Knative and CloudNativePG objects valid; no schema for: ${[...unchecked].join(", ") || "none"}`);
