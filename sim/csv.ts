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

/** RFC 4180 parser (quoted fields may hold delimiters, quotes and newlines). Unquoted empty → null. */
export function parseCsv(text: string, delimiter = ','): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  let row: Array<string | null> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    let value: string | null;
    if (text[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted CSV field');
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') { s += '"'; i += 2; continue; }
          i++;
          break;
        }
        s += c;
        i++;
      }
      value = s;
    } else {
      let j = i;
      while (j < n && text[j] !== delimiter && text[j] !== '\n' && text[j] !== '\r') j++;
      value = j === i ? null : text.slice(i, j);
      i = j;
    }
    row.push(value);
    if (text[i] === delimiter) { i++; continue; }
    if (text[i] === '\r') i++;
    if (text[i] === '\n' || i >= n) {
      i++;
      rows.push(row);
      row = [];
      continue;
    }
    throw new Error(`unexpected character in CSV at ${i}`);
  }
  return rows;
}
