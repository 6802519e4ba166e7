/**
 * The building blocks of the config's schema (zod): settings with their defaults and environment
 * fallbacks, and values whose errors say what is wrong and the fix. A message is
 * `<problem>. Fix: <fix>`, with `{path}` standing for the setting's path (zod builds the path
 * only as the issue bubbles up); ConfigReader.parse puts the file and line in front.
 */
import { z } from 'zod';
import { editDistance } from '../../runtime/selection/index.js';

export type Env = NodeJS.ProcessEnv;

/** What the schema says of a setting beyond its type: its default (as written in YAML) and the variables it falls back to. */
export interface SettingDoc {
  default?: unknown;
  env?: readonly string[];
  /** The schemas (zod types) that read the value once a sibling has chosen one (e.g. warehouse.athena by warehouse.engine). */
  reads?: readonly unknown[];
}
export const settingDocs = z.registry<SettingDoc>();

export const msg = (problem: string, fix: string): string => `${problem}. Fix: ${fix}`;
const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** The first variable of `names` that is set and not empty. */
export function fromEnv(env: Env, names: readonly string[] = []): string | undefined {
  for (const n of names) if (env[n]) return env[n];
  return undefined;
}

interface SettingOptions<T extends z.ZodType> {
  /** Used when the file does not set it (absent or null), in YAML's terms: parsed like a written value. */
  default?: unknown;
  /** Variables read, in order, when the file does not set it (before the default). */
  env?: readonly string[];
  from?: Env;
  /** How a variable's text becomes the value (e.g. a number). */
  parseEnv?: (text: string) => unknown;
  reads?: readonly unknown[];
}

function fill<T extends z.ZodType>(o: SettingOptions<T>) {
  return (v: unknown): unknown => {
    if (v !== null && v !== undefined) return v;
    const e = fromEnv(o.from ?? {}, o.env);
    if (e !== undefined) return o.parseEnv ? o.parseEnv(e) : e;
    return o.default;
  };
}

/** A setting that always has a value: the file's, else a variable's, else the default, else it is missing (the schema's error). */
export function setting<T extends z.ZodType>(schema: T, o: SettingOptions<T> = {}) {
  const s = z.preprocess(fill(o), schema);
  settingDocs.add(s, { default: o.default, env: o.env, reads: o.reads });
  return s;
}

/** A value read later by one of `schemas` (which one, a sibling setting decides). */
export function readLater(...schemas: unknown[]) {
  const s = z.unknown().optional();
  settingDocs.add(s, { reads: schemas });
  return s;
}

/** A setting that may stay unset (undefined). */
export function maybe<T extends z.ZodType>(schema: T, o: Omit<SettingOptions<T>, 'default'> = {}) {
  // Not .optional(): zod skips an absent key whose schema is optional, and then no variable is read.
  const s = z.preprocess((v) => fill(o)(v) ?? null, schema.nullable()).transform((v) => v ?? undefined);
  settingDocs.add(s, { env: o.env });
  return s;
}

/** A non-empty string; a YAML number reads as its text. `missing`: the fix when it is not set. */
export function text(missing = 'add {path}: <text>') {
  return z.preprocess(
    (v) => (typeof v === 'number' ? String(v) : v),
    z
      .string({ error: (iss) => (iss.input === undefined || iss.input === null ? msg('is missing', missing) : msg(`must be a non-empty string (got ${shown(iss.input)})`, 'quote the value')) })
      .min(1, { error: msg('must be a non-empty string (got "")', 'quote the value') }),
  );
}

/** A string matching `re`, else `problem(value)` and `fix`. */
export function matching(re: RegExp, problem: (v: string) => string, fix: string, missing?: string) {
  return text(missing).refine((v) => re.test(v), { error: (iss) => msg(problem(String(iss.input)), fix) });
}

export function oneOf<const T extends readonly [string, ...string[]]>(choices: T, missing?: string) {
  const list = choices.join(', ');
  return text(missing).pipe(z.enum(choices, { error: (iss) => msg(`"${String(iss.input)}" is not one of ${list}`, `use one of ${list}`) }));
}

export function number(o: { min?: number; max?: number; integer?: boolean } = {}) {
  const range = `${o.min ?? '-∞'}..${o.max ?? '∞'}`;
  let n = z.number({
    error: (iss) => (iss.input === undefined || iss.input === null ? msg('is missing', 'add {path}: <number>') : msg(`must be a number (got ${shown(iss.input)})`, `write a number in ${range}`)),
  });
  if (o.integer) n = n.int({ error: (iss) => msg(`must be a whole number (got ${String(iss.input)})`, `write a whole number in ${range}`) });
  if (o.min !== undefined) n = n.min(o.min, { error: (iss) => msg(`${String(iss.input)} is out of range`, `write a number in ${range}`) });
  if (o.max !== undefined) n = n.max(o.max, { error: (iss) => msg(`${String(iss.input)} is out of range`, `write a number in ${range}`) });
  return n;
}

export function bool() {
  return z.boolean({ error: (iss) => msg(`must be true or false (got ${shown(iss.input)})`, 'write true or false') });
}

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Durations such as `90s`, `30m`, `1h`, `2d`, in milliseconds. */
export function duration() {
  const re = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
  return matching(re, (v) => `"${v}" is not a duration`, 'write a number and a unit, e.g. 30m, 1h or 2d').transform((v) => {
    const m = re.exec(v.trim())!;
    return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
  });
}

/** An AWS region name (eu-west-1, us-gov-west-1, cn-north-1, eusc-de-east-1): a typo would only surface as a DNS error at run time. `from`: where it may come from. */
export function awsRegion(from: string, missing?: string) {
  return matching(/^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/, (v) => `"${v}" (${from}) is not an AWS region`, 'write a region name such as eu-west-1 or us-east-1', missing);
}

export function list<T extends z.ZodType>(item: T) {
  return z.array(item, { error: msg('must be a list', 'write {path} as a YAML list ("- item" lines)') });
}

/** The setting among `known` nearest to `key` (at most two edits), if any. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  return known.filter((k) => editDistance(k, key) <= 2).sort((a, b) => editDistance(a, key) - editDistance(b, key))[0];
}

interface SectionOptions {
  /** The message when it is not a mapping (default: "must be a mapping"). */
  notMapping?: (input: unknown) => string;
  /** Keys that belong to another choice: the problem and fix to give instead of "not a setting". */
  elsewhere?: Record<string, string>;
}

/**
 * A mapping of settings. A key it does not know is refused (a typo such as `lookbak` would
 * otherwise leave the default in force silently), naming a known sibling it may have meant.
 * ConfigReader.parse puts the key on the path (`unrecognized_keys`).
 */
export function section<S extends z.ZodRawShape>(shape: S, o: SectionOptions = {}) {
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        const key = iss.keys[0]!;
        if (o.elsewhere?.[key]) return o.elsewhere[key];
        const near = nearest(key, Object.keys(shape));
        const see = '(see assets/config/embedded.yaml for every setting)';
        return msg('is not a setting sfpipe reads', near ? `did you mean ${near}? ${see}` : `remove it or check its spelling and place ${see}`);
      }
      if (iss.code === 'invalid_type') return o.notMapping?.(iss.input) ?? msg('must be a mapping', 'write {path} as "key: value" lines');
      return undefined;
    },
  });
}

/** A key that must not be written: always refused with `problem` and `fix`, its value never shown. */
export function refused(problem: string, fix: string) {
  return z.unknown().optional().superRefine((v, ctx) => {
    if (v !== undefined) ctx.addIssue({ code: 'custom', message: msg(problem, fix) });
  });
}

/** An issue at `path` (relative to the value being checked). */
export function issue(ctx: z.RefinementCtx, path: (string | number)[], problem: string, fix: string): void {
  ctx.addIssue({ code: 'custom', path, message: msg(problem, fix) });
}

/** `value` checked by `schema` inside another check, its issues reported under `prefix`; z.NEVER when it fails. */
export function parseWithin<T extends z.ZodType>(schema: T, value: unknown, ctx: z.RefinementCtx, prefix: (string | number)[]): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  for (const i of r.error.issues) ctx.addIssue({ ...i, path: [...prefix, ...i.path] } as never);
  return z.NEVER;
}

/**
 * What is wrong with a Salesforce login URL, or null: an http(s) URL with no credentials, query
 * or fragment (jsforce appends /services/oauth2/token to it). A real org (`salesforce` mode) is
 * reached over https; plain http only on this machine (a simulator on loopback). The message does
 * not repeat the value, which may hold a secret.
 */
export function loginUrlProblem(v: string, mode: 'simulator' | 'salesforce'): string | null {
  const url = urlOf(v);
  if (!url || !/^https?:$/.test(url.protocol)) return 'is not an http(s) URL';
  if (url.username || url.password) return 'holds credentials (user:password@) in its URL';
  if (url.search || url.hash) return 'has a query or a fragment (?…, #…)';
  if (mode === 'salesforce' && url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    return 'is plain http to another host, which would send the credentials unencrypted';
  }
  return null;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** How to write a login URL. */
export const LOGIN_URL_FIX =
  "write the org's login URL alone, e.g. https://login.salesforce.com, https://test.salesforce.com or https://<my-domain>.my.salesforce.com; credentials go in salesforce.auth.credentials";

/** A URL parsed, or null when it is none. */
export function urlOf(v: string): URL | null {
  try {
    return new URL(v);
  } catch {
    return null;
  }
}
