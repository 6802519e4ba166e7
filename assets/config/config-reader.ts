import { isMap, isSeq, LineCounter, parseDocument, type Document, type YAMLMap } from 'yaml';
import type { z } from 'zod';
import { editDistance } from '../../runtime/selection/index.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Path = (string | number)[];

/** Reads typed values out of a parsed YAML document; every error names file, path, line and fix. */
export class ConfigReader {
  readonly file: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;
  /** Every path the loader looked at (formatPath form): the settings sfpipe knows. */
  readonly #read = new Set<string>();
  /** Paths rejectUnknown does not look into (the overlays: the one in use is merged into the rest). */
  readonly #opaque = new Set<string>();

  constructor(file: string, text: string) {
    this.file = file;
    this.#lines = new LineCounter();
    this.#doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true });
    const err = this.#doc.errors[0];
    if (err) throw new ConfigError(`${file}: invalid YAML: ${err.message}`);
    if (!isMap(this.#doc.contents)) throw new ConfigError(`${file}: the top level must be a mapping (keys such as salesforce:, source:, warehouse:)`);
  }

  fail(path: Path, problem: string, fix: string): never {
    throw new ConfigError(`${this.locate(path)}: ${problem}. Fix: ${fix}`);
  }

  /**
   * Merges the overlay `<path>.<name>` (e.g. environments.dev) over the rest of the document:
   * mappings key by key, anything else (a list, a value, null) replaces. Its nodes keep their
   * lines, so errors in overlaid settings point into the overlay. Returns the overlays declared
   * (each must be one of `names`) and whether `<name>` was among them.
   */
  applyOverlay(path: string, name: string, names: readonly string[]): { declared: string[]; applied: boolean } {
    const declared = this.keys([path]);
    this.#opaque.add(path);
    for (const d of declared) {
      if (!names.includes(d)) this.fail([path, d], `"${d}" is not an environment`, `name the overlays ${names.join(', ')}`);
      const node = this.#doc.getIn([path, d], true);
      if (node !== null && node !== undefined && !isMap(node) && !(typeof node === 'object' && 'value' in node && (node as { value: unknown }).value === null)) {
        this.fail([path, d], 'must be a mapping of settings', `write settings under ${path}.${d}, e.g. "warehouse: { … }"`);
      }
      if (isMap(node) && node.has(path)) this.fail([path, d, path], 'an overlay cannot hold overlays', `move ${path}.${d}.${path} up to the top level`);
    }
    const overlay = this.#doc.getIn([path, name], true);
    if (!isMap(overlay)) return { declared, applied: declared.includes(name) };
    mergeMaps(this.#doc.contents as YAMLMap, overlay);
    return { declared, applied: true };
  }

  /**
   * The value at `path` checked and converted by `schema` (its keys are then known: rejectUnknown
   * leaves them to the schema). The first issue becomes a ConfigError naming the file, the
   * setting's path and line, and the fix; an unknown key counts only when nothing else is wrong.
   */
  parse<T extends z.ZodType>(path: Path, schema: T): z.output<T> {
    this.#markRead(path);
    this.#opaque.add(formatPath(path));
    const result = schema.safeParse(this.raw(path));
    if (result.success) return result.data;
    const first = firstIssue(result.error.issues);
    const at = [...path, ...(first.path as Path), ...(first.code === 'unrecognized_keys' ? [first.keys[0]!] : [])];
    const message = first.message.includes('. Fix: ') ? first.message : `${first.message}. Fix: see assets/config/embedded.yaml`;
    throw new ConfigError(`${this.locate(at)}: ${message.replaceAll('{path}', formatPath(at))}`);
  }

  /** `file: path (line N)`, for errors found after loading (e.g. against the asset graph). */
  locate(path: Path): string {
    const node = this.#doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const at = node?.range ? ` (line ${this.#lines.linePos(node.range[0]).line})` : '';
    return `${this.file}: ${formatPath(path)}${at}`;
  }

  /** An AWS region name (eu-west-1, us-gov-west-1, cn-north-1, eusc-de-east-1): a typo would only surface as a DNS error at run time. */
  awsRegion(path: Path, value: string, from: string): string {
    if (!/^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/.test(value)) this.fail(path, `"${value}" (${from}) is not an AWS region`, 'write a region name such as eu-west-1 or us-east-1');
    return value;
  }

  has(path: Path): boolean {
    this.#markRead(path);
    return this.#doc.hasIn(path);
  }

  raw(path: Path): unknown {
    this.#markRead(path);
    const v = this.#doc.getIn(path, false);
    return v && typeof v === 'object' && 'toJSON' in v ? (v as { toJSON(): unknown }).toJSON() : v;
  }

  string(path: Path, fallback?: string): string {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(path, 'is missing', `add ${formatPath(path)}: <text>`);
    }
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string' || v.length === 0) this.fail(path, `must be a non-empty string (got ${JSON.stringify(v)})`, 'quote the value');
    return v;
  }

  optionalString(path: Path): string | null {
    const v = this.raw(path);
    return v === undefined || v === null ? null : this.string(path);
  }

  oneOf<T extends string>(path: Path, choices: readonly T[], fallback?: T): T {
    const v = this.string(path, fallback);
    if (!(choices as readonly string[]).includes(v)) {
      this.fail(path, `"${v}" is not one of ${choices.join(', ')}`, `use one of ${choices.join(', ')}`);
    }
    return v as T;
  }

  number(path: Path, opts: { min?: number; max?: number; integer?: boolean; fallback?: number }): number {
    const v = this.raw(path);
    if (v === undefined || v === null) {
      if (opts.fallback !== undefined) return opts.fallback;
      this.fail(path, 'is missing', `add ${formatPath(path)}: <number>`);
    }
    const range = `${opts.min ?? '-∞'}..${opts.max ?? '∞'}`;
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(path, `must be a number (got ${JSON.stringify(v)})`, `write a number in ${range}`);
    if (opts.integer && !Number.isInteger(v)) this.fail(path, `must be a whole number (got ${v})`, `write a whole number in ${range}`);
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) {
      this.fail(path, `${v} is out of range`, `write a number in ${range}`);
    }
    return v;
  }

  /** Durations such as `90s`, `30m`, `1h`, `2d`. */
  duration(path: Path, fallback: string): number {
    const v = this.string(path, fallback);
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(v.trim());
    if (!m) this.fail(path, `"${v}" is not a duration`, 'write a number and a unit, e.g. 30m, 1h or 2d');
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return Number(m[1]) * unit;
  }

  /** Keys of a mapping (empty when absent). */
  keys(path: Path): string[] {
    if (!this.has(path)) return [];
    const node = this.#doc.getIn(path, true);
    if (!isMap(node)) this.fail(path, 'must be a mapping', `write ${formatPath(path)} as "key: value" lines`);
    return node.items.map((item) => String((item.key as { value?: unknown } | null)?.value ?? item.key));
  }

  boolean(path: Path, fallback: boolean): boolean {
    const v = this.raw(path);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(path, `must be true or false (got ${JSON.stringify(v)})`, 'write true or false');
    return v;
  }

  /**
   * Refuses a key the loader never read (a typo such as `lookbak` would otherwise leave the
   * default in force silently), naming a known sibling it may have meant. Call after reading.
   */
  #markRead(path: Path): void {
    for (let i = 1; i <= path.length; i++) this.#read.add(formatPath(path.slice(0, i)));
  }

  rejectUnknown(): void {
    const walk = (node: unknown, path: Path): void => {
      if (isMap(node)) {
        const keys = node.items.map((item) => String((item.key as { value?: unknown } | null)?.value ?? item.key));
        node.items.forEach((item, i) => {
          const p = [...path, keys[i]!];
          if (this.#opaque.has(formatPath(p))) return;
          if (!this.#read.has(formatPath(p))) {
            const prefix = formatPath(path);
            const known = [...this.#read]
              .filter((k) => (path.length === 0 ? !/[.[]/.test(k) : k.startsWith(`${prefix}.`) && !/[.[]/.test(k.slice(prefix.length + 1))))
              .map((k) => (path.length === 0 ? k : k.slice(prefix.length + 1)));
            const near = known.filter((k) => editDistance(k, keys[i]!) <= 2).sort((a, b) => editDistance(a, keys[i]!) - editDistance(b, keys[i]!))[0];
            this.fail(p, 'is not a setting sfpipe reads', near ? `did you mean ${near}? (see assets/config/embedded.yaml for every setting)` : 'remove it or check its spelling and place (see assets/config/embedded.yaml for every setting)');
          }
          walk(item.value, p);
        });
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => walk(item, [...path, i]));
      }
    };
    walk(this.#doc.contents, []);
  }

  length(path: Path): number {
    this.#markRead(path);
    const node = this.#doc.getIn(path, true);
    if (!isSeq(node)) this.fail(path, 'must be a list', `write ${formatPath(path)} as a YAML list ("- item" lines)`);
    return node.items.length;
  }
}

/** The issue to report: the first that is not an unknown key, else the first; within a union, its last choice's. */
function firstIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues.find((i) => i.code !== 'unrecognized_keys') ?? issues[0]!;
  if (first.code === 'invalid_union' && first.errors.length) {
    const inner = firstIssue(first.errors[first.errors.length - 1]!);
    return { ...inner, path: [...first.path, ...inner.path] } as z.core.$ZodIssue;
  }
  return first;
}

function keyOf(key: unknown): string {
  return String((key as { value?: unknown } | null)?.value ?? key);
}

function mergeMaps(base: YAMLMap, overlay: YAMLMap): void {
  for (const pair of overlay.items) {
    const existing = base.items.find((p) => keyOf(p.key) === keyOf(pair.key));
    if (!existing) base.items.push(pair);
    else if (isMap(existing.value) && isMap(pair.value)) mergeMaps(existing.value, pair.value);
    else existing.value = pair.value;
  }
}

export function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
