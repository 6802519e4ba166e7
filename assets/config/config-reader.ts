import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Path = (string | number)[];

/** Reads typed values out of a parsed YAML document; every error names file, path, line and fix. */
export class ConfigReader {
  readonly file: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(file: string, text: string) {
    this.file = file;
    this.#lines = new LineCounter();
    this.#doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true });
    const err = this.#doc.errors[0];
    if (err) throw new ConfigError(`${file}: invalid YAML: ${err.message}`);
    if (!isMap(this.#doc.contents)) throw new ConfigError(`${file}: the top level must be a mapping (keys such as salesforce:, source:, warehouse:)`);
  }

  fail(path: Path, problem: string, fix: string): never {
    const node = this.#doc.getIn(path, true) as { range?: [number, number] } | undefined;
    const at = node?.range ? ` (line ${this.#lines.linePos(node.range[0]).line})` : '';
    throw new ConfigError(`${this.file}: ${formatPath(path)}${at}: ${problem}. Fix: ${fix}`);
  }

  has(path: Path): boolean {
    return this.#doc.hasIn(path);
  }

  raw(path: Path): unknown {
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

  length(path: Path): number {
    const node = this.#doc.getIn(path, true);
    if (!isSeq(node)) this.fail(path, 'must be a list', `write ${formatPath(path)} as a YAML list ("- item" lines)`);
    return node.items.length;
  }
}

export function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
