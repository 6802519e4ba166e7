/**
 * The commented embedded config (assets/config/embedded.yaml) against the config's schema: every
 * key it writes or shows in a comment is a setting the schema knows, the defaults its comments
 * state are the schema's, and the values it writes are the schema's defaults except where the
 * file says otherwise on purpose.
 */
import test from 'ava';
import fs from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { embeddedConfigPath, parsePipelineConfig } from '../../assets/config/load-config.js';
import { pipelineConfigSchema, type PipelineConfig } from '../../assets/config/pipeline-config.js';
import { settingDocs, type SettingDoc } from '../../assets/config/schema-kit.js';

/** Every setting the schema knows, by path (list items as `[]`, a record's entries as `*`), with what it says of it. */
function settingsOf(schema: z.ZodType): Map<string, SettingDoc> {
  const out = new Map<string, SettingDoc>();
  const walk = (s: z.ZodType, path: string[]): void => {
    const key = path.join('.');
    const doc = settingDocs.get(s);
    if (!out.has(key)) out.set(key, {});
    if (doc) {
      const known = out.get(key)!;
      // The outermost declaration of a path wins (a union's choices declare theirs inside it).
      out.set(key, { default: known.default ?? doc.default, env: known.env ?? doc.env });
      for (const r of doc.reads ?? []) walk(r as z.ZodType, path);
    }
    const def = s.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case 'object':
        for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) walk(v, [...path, k]);
        break;
      case 'pipe':
        walk(def.in as z.ZodType, path);
        walk(def.out as z.ZodType, path);
        break;
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
        walk(def.innerType as z.ZodType, path);
        break;
      case 'array':
        walk(def.element as z.ZodType, [...path, '[]']);
        break;
      case 'record':
        walk(def.valueType as z.ZodType, [...path, '*']);
        break;
      case 'union':
        for (const o of def.options as z.ZodType[]) walk(o, path);
        break;
    }
  };
  walk(schema, []);
  return out;
}

const schema = pipelineConfigSchema({}, () => '');
const settings = settingsOf(schema);
const embedded = fs.readFileSync(embeddedConfigPath(), 'utf8');

/** The file with its commented-out example settings (`# key: value`) written in. */
const uncommented = embedded.replace(/^(\s*)# (\s*[a-z_]+:(?:\s|$))/gm, '$1$2');

interface Written {
  /** The schema's path: overlays (`environments.<stage>.`) dropped, list items as `[]`, freshness entries as `*`. */
  path: string;
  value: unknown;
  line: number;
  inOverlay: boolean;
}

/** Every key the file writes, where, with its value. */
function written(text: string): Written[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const out: Written[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const k = String(pair.key.value);
        let p = [...path, k];
        if (path.length === 1 && path[0] === 'freshness') p = ['freshness', '*'];
        const overlay = p[0] === 'environments';
        if (overlay && p.length <= 2) {
          walk(pair.value, p);
          continue;
        }
        const schemaPath = overlay ? p.slice(2) : p;
        const value = (pair.value as Node | null)?.toJSON?.() ?? (pair.value as { value?: unknown } | null)?.value ?? null;
        out.push({ path: schemaPath.join('.'), value, line: lines.linePos(pair.key.range![0]).line, inOverlay: overlay });
        walk(pair.value, p);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, [...path, '[]']);
    }
  };
  walk(doc.contents, []);
  return out;
}

test('the embedded config parses with the schema as it is', (t) => {
  t.notThrows(() => parsePipelineConfig('embedded.yaml', embedded, { env: {} }));
});

test('every key embedded.yaml writes, or shows in a comment, is a setting the schema knows', (t) => {
  t.not(uncommented, embedded, 'the file has commented-out examples');
  for (const w of written(uncommented)) {
    t.true(settings.has(w.path), `embedded.yaml line ${w.line}: ${w.path} is not in the schema`);
  }
});

/** Defaults that follow another setting (computed when the section is read), as the embedded config gets them. */
const DERIVED: Record<string, (c: PipelineConfig) => unknown> = {
  'alerts.email.port': (c) => c.alerts.email.port,
};

test("the defaults embedded.yaml's comments state are the schema's (values and variables)", (t) => {
  let stated = 0;
  const byLine = new Map(written(uncommented).map((w) => [w.line, w]));
  uncommented.split('\n').forEach((text, i) => {
    const m = /#.*\bdefault: (.*)$/.exec(text);
    const w = byLine.get(i + 1);
    if (!m || !w) return;
    const doc = settings.get(w.path)!;
    const says = m[1]!;
    for (const name of says.match(/\$[A-Z_]+/g) ?? []) {
      stated++;
      t.true(doc.env?.includes(name.slice(1)), `line ${i + 1}: ${w.path} falls back to ${name}, as its comment says (the schema: ${doc.env?.join(', ') ?? 'none'})`);
    }
    const literal = /^([^\s$(,;]+)/.exec(says)?.[1];
    if (literal && literal !== 'the') {
      stated++;
      const derived = DERIVED[w.path];
      const actual = doc.default !== undefined ? doc.default : derived?.(parsePipelineConfig('e.yaml', embedded, { env: {} }));
      t.is(String(actual), literal, `line ${i + 1}: ${w.path}'s default (the schema declares none and derives none)`);
    }
  });
  t.true(stated >= 5, 'the comments state defaults');
  // `port: 587 # default: 587 for starttls, 465 for tls`.
  t.is(parsePipelineConfig('e.yaml', embedded.replace('security: starttls', 'security: tls'), { env: {} }).alerts.email.port, 465);
});

/** Settings embedded.yaml sets to something other than the default on purpose. */
const NOT_DEFAULT = new Set(['freshness.*.data_time']);

test('the values embedded.yaml writes are the schema defaults (it is the embedded default), except where it means otherwise', (t) => {
  let compared = 0;
  for (const w of written(embedded)) {
    const doc = settings.get(w.path);
    // A section's default is {} (its settings' own defaults): its settings are compared one by one.
    const section = typeof doc?.default === 'object' && doc.default !== null && Object.keys(doc.default).length === 0;
    if (w.inOverlay || doc?.default === undefined || section || NOT_DEFAULT.has(w.path)) continue;
    compared++;
    t.deepEqual(w.value, doc.default, `embedded.yaml line ${w.line}: ${w.path}`);
  }
  t.true(compared >= 25, `${compared} settings compared`);
});

test("an optional setting's variable is read when the file does not set it", (t) => {
  const env = { SFPIPE_SMTP_HOST: 'smtp.example.com', SFPIPE_SMTP_FROM: 'sfpipe@example.com', SFPIPE_SMTP_TO: 'a@example.com, b@example.com', SFPIPE_SMTP_PORT: '2525' };
  t.like(parsePipelineConfig('e.yaml', embedded, { env }).alerts.email, { host: 'smtp.example.com', from: 'sfpipe@example.com', to: ['a@example.com', 'b@example.com'], port: 2525 });
});
