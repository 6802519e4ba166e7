/** A SOQL error carrying the Salesforce errorCode (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE…). */
export class SoqlError extends Error {
  constructor(readonly errorCode: string, message: string) {
    super(message);
    this.name = 'SoqlError';
  }
}

export function malformed(query: string, pos: number, detail: string): SoqlError {
  return new SoqlError('MALFORMED_QUERY', `${pointer(query, pos)}\n${detail}`);
}

/** Salesforce prefixes query errors with the query and a caret under the offending column. */
export function pointer(query: string, pos: number): string {
  const before = query.slice(0, pos);
  const row = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${query}\n${' '.repeat(Math.max(col - 1, 0))}^\nERROR at Row:${row}:Column:${col}`;
}
