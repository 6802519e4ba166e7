import { parseSfDatetime } from '../datetime.js';
import { malformed } from './errors.js';

export type TokenKind = 'ident' | 'string' | 'number' | 'datetime' | 'date' | 'op' | 'lparen' | 'rparen' | 'comma' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Identifier/operator text, decoded string, or number text. */
  text: string;
  /** Epoch ms for datetime/date literals. */
  ms?: number;
  pos: number;
}

const DATETIME_RE = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})/y;
const DATE_RE = /\d{4}-\d{2}-\d{2}(?![\dT])/y;
const NUMBER_RE = /-?\d+(?:\.\d+)?/y;
const IDENT_RE = /[A-Za-z_][A-Za-z0-9_.]*/y;
const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '"': '"', "'": "'", '\\': '\\', _: '\\_', '%': '\\%' };

export function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const sticky = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(q);
    return m ? m[0] : undefined;
  };
  while (i < q.length) {
    const c = q[i]!;
    if (/\s/.test(c)) { i++; continue; }
    const start = i;
    if (c === '(') { out.push({ kind: 'lparen', text: c, pos: i++ }); continue; }
    if (c === ')') { out.push({ kind: 'rparen', text: c, pos: i++ }); continue; }
    if (c === ',') { out.push({ kind: 'comma', text: c, pos: i++ }); continue; }
    const two = q.slice(i, i + 2);
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      out.push({ kind: 'op', text: two === '<>' ? '!=' : two, pos: i });
      i += 2;
      continue;
    }
    if (c === '=' || c === '<' || c === '>') { out.push({ kind: 'op', text: c, pos: i++ }); continue; }
    if (c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= q.length) throw malformed(q, start, 'unterminated string literal');
        const ch = q[i]!;
        if (ch === "'") { i++; break; }
        if (ch === '\\') {
          const e = q[i + 1];
          const rep = e === undefined ? undefined : ESCAPES[e];
          if (rep === undefined) throw malformed(q, i, `Invalid string literal '${q.slice(start, i + 2)}'. Illegal character sequence '\\${e ?? ''}' in string literal.`);
          s += rep;
          i += 2;
          continue;
        }
        s += ch;
        i++;
      }
      out.push({ kind: 'string', text: s, pos: start });
      continue;
    }
    const dt = sticky(DATETIME_RE);
    if (dt) {
      out.push({ kind: 'datetime', text: dt, ms: parseSfDatetime(dt)!, pos: start });
      i += dt.length;
      continue;
    }
    const d = sticky(DATE_RE);
    if (d) {
      out.push({ kind: 'date', text: d, ms: Date.parse(`${d}T00:00:00Z`), pos: start });
      i += d.length;
      continue;
    }
    const num = sticky(NUMBER_RE);
    if (num) {
      out.push({ kind: 'number', text: num, pos: start });
      i += num.length;
      continue;
    }
    const id = sticky(IDENT_RE);
    if (id) {
      out.push({ kind: 'ident', text: id, pos: start });
      i += id.length;
      continue;
    }
    throw malformed(q, i, `unexpected token: '${c}'`);
  }
  out.push({ kind: 'eof', text: '', pos: q.length });
  return out;
}
