#!/usr/bin/env node
// Converts the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json of the
// k8s.io/kubernetes module) into kubeconform's per-kind JSON-schema layout, offline.
//
//   node openapi2jsonschema.mjs SWAGGER_JSON OUT_DIR [--strict]
//
// Writes OUT_DIR/<kind>[-<group-first-label>]-<version>.json for every definition that
// carries x-kubernetes-group-version-kind — the file names kubeconform derives from an
// object's apiVersion/kind (pkg/registry/registry.go schemaPath). Like yannh's
// openapi2jsonschema ("standalone" flavour) each file is self-contained; instead of
// inlining every $ref (which loops on recursive types) the file carries the
// transitive closure of the definitions it references under "definitions" and keeps
// local "#/definitions/..." refs (kubeconform compiles schemas as draft-04).
//
// Adjustments, as in openapi2jsonschema:
// - IntOrString (format int-or-string) accepts a string or an integer;
// - Quantity accepts a string or a number (the API server accepts `cpu: 1`);
// - --strict adds additionalProperties: false to every object schema that lists
//   properties and does not say otherwise — kubectl's/apiserver's "unknown field"
//   behaviour, so a misspelt field is an error.
// Unlike the published schemas, optional fields do not accept null: the chart must
// not render `key: null`.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [swaggerPath, outDir, ...flags] = process.argv.slice(2);
if (!swaggerPath || !outDir) {
  console.error('usage: openapi2jsonschema.mjs SWAGGER_JSON OUT_DIR [--strict]');
  process.exit(2);
}
const strict = flags.includes('--strict');
const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8'));
const defs = swagger.definitions;
const PREFIX = '#/definitions/';

const special = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    oneOf: [{ type: 'string' }, { type: 'integer' }],
  },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': {
    oneOf: [{ type: 'string' }, { type: 'number' }],
  },
};

function transform(node) {
  if (Array.isArray(node)) return node.map(transform);
  if (node === null || typeof node !== 'object') return node;
  if (node.format === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    // property maps: keys are field names, values are schemas
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, transform(s)]));
    } else {
      out[k] = transform(v);
    }
  }
  if (strict && out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const converted = new Map();
function def(name) {
  if (!converted.has(name)) {
    const src = defs[name];
    if (!src) throw new Error(`missing definition ${name}`);
    converted.set(name, special[name] ?? transform(src));
  }
  return converted.get(name);
}

function collectRefs(node, acc) {
  if (Array.isArray(node)) {
    for (const n of node) collectRefs(n, acc);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(PREFIX)) {
        const name = v.slice(PREFIX.length);
        if (!acc.has(name)) {
          acc.add(name);
          collectRefs(def(name), acc);
        }
      } else {
        collectRefs(v, acc);
      }
    }
  }
}

mkdirSync(outDir, { recursive: true });
let written = 0;
for (const [name, src] of Object.entries(defs)) {
  const gvks = src['x-kubernetes-group-version-kind'];
  if (!Array.isArray(gvks)) continue;
  const schema = def(name);
  const refs = new Set();
  collectRefs(schema, refs);
  const definitions = {};
  for (const r of [...refs].sort()) definitions[r] = def(r);
  for (const { group, version, kind } of gvks) {
    const apiVersion = group ? `${group}/${version}` : version;
    const fileSchema = {
      ...schema,
      properties: {
        ...schema.properties,
        // pin the object's identity the way the published schemas do
        apiVersion: { ...(schema.properties?.apiVersion ?? {}), type: 'string', enum: [apiVersion] },
        kind: { ...(schema.properties?.kind ?? {}), type: 'string', enum: [kind] },
      },
      definitions,
    };
    const suffix = group ? `-${group.split('.')[0].toLowerCase()}-${version.toLowerCase()}` : `-${version.toLowerCase()}`;
    writeFileSync(join(outDir, `${kind.toLowerCase()}${suffix}.json`), JSON.stringify(fileSchema));
    written++;
  }
}
console.log(`openapi2jsonschema: ${written} schemas -> ${outDir}${strict ? ' (strict)' : ''}`);
