/**
 * What a terminal shows after a program's output: a small emulator of the sequences a terminal
 * program redraws with. Printable text is written at the cursor and wraps at `columns`; `\r`
 * returns to the line's start and `\n` moves down, so a redraw replaces the line; CSI cursor up
 * (A), down (B), column (G), erase in display (J) and in line (K) move and erase; colours and
 * other modes (SGR m, ?25l, ?7l, save/restore) change nothing on the screen's text. Tabs and
 * wide characters are not emulated (the output checked has none that matter).
 */
export function finalScreen(output: string, columns = 160): string[] {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  const line = (r: number) => {
    while (lines.length <= r) lines.push([]);
    return lines[r]!;
  };
  const chars = [...output];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\u001b') {
      const next = chars[i + 1];
      if (next === '[') {
        let j = i + 2;
        let params = '';
        while (j < chars.length && /[0-9;?]/.test(chars[j]!)) params += chars[j++];
        const cmd = chars[j];
        i = j;
        const n = Number(params.replace('?', '').split(';')[0] || '0');
        if (params.startsWith('?')) continue;
        switch (cmd) {
          case 'A':
            row = Math.max(0, row - Math.max(1, n));
            break;
          case 'B':
            row += Math.max(1, n);
            break;
          case 'G':
            col = Math.max(0, Math.max(1, n) - 1);
            break;
          case 'J':
            if (n === 0) {
              line(row).length = Math.min(line(row).length, col);
              lines.length = Math.min(lines.length, row + 1);
            } else if (n === 2) {
              lines.length = 0;
              lines.push([]);
            }
            break;
          case 'K':
            if (n === 0) line(row).length = Math.min(line(row).length, col);
            else if (n === 2) line(row).length = 0;
            break;
          default:
            break; // SGR colours and anything else: no text
        }
      } else if (next === '7') {
        saved = { row, col };
        i++;
      } else if (next === '8') {
        ({ row, col } = saved);
        i++;
      } else {
        i++;
      }
      continue;
    }
    if (c === '\r') {
      col = 0;
      continue;
    }
    if (c === '\n') {
      row++;
      line(row);
      continue;
    }
    if (c < ' ') continue;
    if (col >= columns) {
      row++;
      col = 0;
    }
    const l = line(row);
    while (l.length < col) l.push(' ');
    l[col] = c;
    col++;
  }
  const text = lines.map((l) => l.join('').trimEnd());
  while (text.length > 0 && text[text.length - 1] === '') text.pop();
  return text;
}
