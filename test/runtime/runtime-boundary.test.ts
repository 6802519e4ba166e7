/**
 * runtime/ imports no package of a pipeline (a Salesforce client, the AWS SDK, DuckDB, dbt,
 * Kubernetes). That it imports nothing of this repository outside runtime/ is docs/architecture.md's
 * table, checked by test/docs/architecture.test.ts.
 * Read from the TypeScript sources: every `import … from`, `export … from`, `import '…'` and
 * `import('…')` specifier of runtime/**\/*.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { importSpecifiers, tsFiles } from '../helpers/import-specifiers.js';
import { repoRoot } from '../services/process-utils.js';

const root = repoRoot();
const runtimeDir = path.join(root, 'runtime');

/** Packages only a pipeline may use (the runtime's own are the rest of package.json's). */
const PIPELINE_PACKAGES = [/^jsforce/, /^@aws-sdk\//, /^@duckdb\//, /^duckdb/, /^@kubernetes\//, /^csv-parse/, /^trino/, /^yaml$/];

test('importSpecifiers finds static, side-effect, re-export and dynamic imports', (t) => {
  const src = `import a from 'x';\nimport type { B } from '../b.js';\nexport { c } from "./c.js";\nimport 'side';\nconst d = await import('../../assets/d.js');\n// import e from 'commented';\n/* import f from 'block'; */`;
  t.deepEqual(importSpecifiers(src).sort(), ['../../assets/d.js', '../b.js', './c.js', 'side', 'x']);
});

test('runtime/ imports no pipeline package', (t) => {
  const files = tsFiles(runtimeDir);
  t.true(files.length > 20, `runtime sources found under ${runtimeDir}`);
  const offences: string[] = [];
  for (const file of files) {
    for (const spec of importSpecifiers(fs.readFileSync(file, 'utf8'))) {
      if (PIPELINE_PACKAGES.some((re) => re.test(spec))) offences.push(`${path.relative(root, file)}: ${spec} (a pipeline's package)`);
    }
  }
  t.deepEqual(offences, []);
});
