// Parses the AsyncAPI documents given with the AsyncAPI project's own
// parser (@asyncapi/parser, its validation and its Spectral rules): exits 1
// on any error, and prints its warnings.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.TOOLS_NODE, "package.json"));
const { Parser, DiagnosticSeverity } = require("@asyncapi/parser");

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of diagnostics) {
    const level = d.severity === DiagnosticSeverity.Error ? "error" : "warning";
    console.error(`${file}: ${level} ${d.code}: ${d.message} at ${d.path.join(".")}`);
  }
  if (!document || errors.length) {
    failed = true;
  } else {
    const channels = document.channels().length;
    const operations = document.operations().length;
    console.log(`${file}: AsyncAPI ${document.version()}, ${channels} channels, ${operations} operations`);
  }
}
process.exit(failed ? 1 : 0);
