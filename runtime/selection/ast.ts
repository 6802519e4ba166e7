/** The parsed form of an asset selection expression. `column` is 1-based, for messages. */
export type SelectionNode =
  /** `*`: every asset. */
  | { type: 'all'; column: number }
  /** `key:VALUE` or a bare key; `*` in `pattern` matches any run of characters. */
  | { type: 'key'; pattern: string; column: number }
  /** `tag:name` (any value) or `tag:name=value`. */
  | { type: 'tag'; name: string; value?: string; column: number }
  | { type: 'group'; value: string; column: number }
  | { type: 'owner'; value: string; column: number }
  | { type: 'kind'; value: string; column: number }
  /** `N+x+M`; `up`/`down` are levels (Infinity for a bare `+`), absent when that side has no `+`. */
  | { type: 'traverse'; operand: SelectionNode; up?: number; down?: number; column: number }
  | { type: 'not'; operand: SelectionNode; column: number }
  | { type: 'and'; left: SelectionNode; right: SelectionNode; column: number }
  | { type: 'or'; left: SelectionNode; right: SelectionNode; column: number }
  | { type: 'function'; name: SelectionFunction; operand: SelectionNode; column: number };

export type SelectionFunction = 'roots' | 'sinks';

export const FUNCTIONS: readonly SelectionFunction[] = ['roots', 'sinks'];
export const ATTRIBUTES = ['key', 'tag', 'group', 'owner', 'kind'] as const;
export type AttributeName = (typeof ATTRIBUTES)[number];
