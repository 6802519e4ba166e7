export const COLUMN_DELIMITERS: Record<string, string> = {
  COMMA: ',', TAB: '\t', PIPE: '|', SEMICOLON: ';', CARET: '^', BACKQUOTE: '`',
};

/** Salesforce Bulk results quote every value; null is an empty, unquoted field. */
export function csvField(v: string | null): string {
  return v === null ? '' : `"${v.replace(/"/g, '""')}"`;
}

export function csvRow(values: ReadonlyArray<string | null>, delimiter: string, eol: string): string {
  return values.map(csvField).join(delimiter) + eol;
}
