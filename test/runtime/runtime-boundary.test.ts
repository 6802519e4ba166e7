/**
 * The rule of docs/architecture.md: runtime/ imports nothing of this repository outside runtime/,
 * and no package of the pipeline (a Salesforce client, the AWS SDK, DuckDB, dbt, Kubernetes).
 * Read from the TypeScript sources: every `import … from`, `export … from`, `import '…'` and
 * `import('…')` specifier of runtime/**\/*.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { importSpecifiers } from '../helpers/import-specifiers.js';

// dist/test/runtime/ → the repository.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const runtimeDir = path.join(root, 'runtime');

/** Packages only a pipeline may use (the runtime's own are the rest of package.json's). */
const PIPELINE_PACKAGES = [/^jsforce/, /^@aws-sdk\//, /^@duckdb\//, /^duckdb/, /^@kubernetes\//, /^csv-parse/, /^trino/, /^yaml$/];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('importSpecifiers finds static, side-effect, re-export and dynamic imports', (t) => {
  const src = `import a from 'x';\nimport type { B } from '../b.js';\nexport { c } from "./c.js";\nimport 'side';\nconst d = await import('../../assets/d.js');\n// import e from 'commented';\n/* import f from 'block'; */`;
  t.deepEqual(importSpecifiers(src).sort(), ['../../assets/d.js', '../b.js', './c.js', 'side', 'x']);
});

test('runtime/ imports nothing from outside runtime/ and no pipeline package', (t) => {
  const files = tsFiles(runtimeDir);
  t.true(files.length > 20, `runtime sources found under ${runtimeDir}`);
  const offences: string[] = [];
  for (const file of files) {
    for (const spec of importSpecifiers(fs.readFileSync(file, 'utf8'))) {
      const where = path.relative(root, file);
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        if (target !== runtimeDir && !target.startsWith(runtimeDir + path.sep)) offences.push(`${where}: ${spec} (outside runtime/)`);
      } else if (PIPELINE_PACKAGES.some((re) => re.test(spec))) {
        offences.push(`${where}: ${spec} (a pipeline's package)`);
      }
    }
  }
  t.deepEqual(offences, []);
});
