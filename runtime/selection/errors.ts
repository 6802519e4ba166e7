import { UsageError } from '../errors.js';

/**
 * A selection expression that does not parse. Says what was expected at which
 * (1-based) column and echoes the expression with a caret under that column.
 */
export class SelectionSyntaxError extends UsageError {
  override name = 'SelectionSyntaxError';
  readonly expression: string;
  readonly column: number;
  readonly expected: string;
  readonly found: string;

  constructor(expression: string, column: number, expected: string, found: string) {
    // Newlines and tabs would put the caret in the wrong place.
    const echo = expression.replace(/[\r\n\t]/g, ' ');
    super(
      `selection syntax error at column ${column}: expected ${expected}, found ${found}\n` +
        `  ${echo}\n` +
        `  ${' '.repeat(Math.max(0, column - 1))}^`,
    );
    this.expression = expression;
    this.column = column;
    this.expected = expected;
    this.found = found;
  }
}

/** An exact key (no wildcard) in a selection that names no asset. */
export class UnknownAssetError extends UsageError {
  override name = 'UnknownAssetError';
  readonly key: string;
  readonly suggestions: string[];

  constructor(key: string, suggestions: readonly string[]) {
    const hint =
      suggestions.length === 0
        ? '; list the assets, groups and owners with: sfpipe lineage'
        : `; did you mean ${suggestions.map((s) => `key:${quoteValue(s)}`).join(', ')}?`;
    super(`no asset matches key:${quoteValue(key)}${hint}`);
    this.key = key;
    this.suggestions = [...suggestions];
  }
}

/** Writes a value the way it would be typed in a selection: bare when possible, else quoted. */
export function quoteValue(value: string): string {
  if (/^[^\s()+"=]+$/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
