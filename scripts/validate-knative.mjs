// Validates every Knative object under the given directories against the
// @kubernetes-models/knative schemas. Exits 1 on the first invalid object.
// (EventType v1beta2 has no model in that package: it is listed, not checked.)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.TOOLS_NODE, "package.json"));
const yaml = require("js-yaml");
const models = {
  "serving.knative.dev/v1/Service": require("@kubernetes-models/knative/serving.knative.dev/v1/Service").Service,
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
        if (doc.apiVersion.includes("knative.dev")) unchecked.add(`${doc.apiVersion}/${doc.kind}`);
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
console.log(`knative: ${checked} Knative objects valid; no schema for: ${[...unchecked].join(", ") || "none"}`);
