import { isMap, LineCounter, parseDocument, type Document, type YAMLMap } from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Path = (string | number)[];

/**
 * A parsed YAML document read through a schema (assets/config/schema-kit.ts); every error names
 * file, path, line and fix.
 */
export class ConfigReader {
  readonly file: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(file: string, text: string) {
    this.file = file;
    this.#lines = new LineCounter();
    this.#doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true });
    const err = this.#doc.errors[0];
    if (err) {
      // The parser stops where the text stops making sense, which can be lines after the mistake.
      throw new ConfigError(
        `${file}: invalid YAML: ${err.message.trimEnd()}\nFix: correct the YAML at that line or above it (indentation, a missing colon, an unclosed [, { or quote)`,
      );
    }
    if (!isMap(this.#doc.contents)) {
      throw new ConfigError(
        `${file}: the top level must be a mapping (keys such as salesforce:, source:, warehouse:)${this.#doc.contents === null ? ', and the file is empty' : ''}. ` +
          'Fix: start from the embedded default, assets/config/embedded.yaml',
      );
    }
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
   * The value at `path` checked and converted by `schema`. The first issue becomes a ConfigError
   * naming the file, the setting's path and line, and the fix; an unknown key is reported only
   * when nothing else is wrong.
   */
  parse<T extends z.ZodType>(path: Path, schema: T): z.output<T> {
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

  raw(path: Path): unknown {
    const v = this.#doc.getIn(path, false);
    return v && typeof v === 'object' && 'toJSON' in v ? (v as { toJSON(): unknown }).toJSON() : v;
  }

  /** Keys of a mapping (empty when absent). */
  keys(path: Path): string[] {
    if (!this.#doc.hasIn(path)) return [];
    const node = this.#doc.getIn(path, true);
    if (!isMap(node)) this.fail(path, 'must be a mapping', `write ${formatPath(path)} as "key: value" lines`);
    return node.items.map((item) => keyOf(item.key));
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
