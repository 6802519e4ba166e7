import { SelectionSyntaxError } from './errors.js';

/**
 * Tokens of a selection expression.
 *
 * - `word`: a bare run of key characters (`sf_raw/*`, `and`, `roots`, `2`); keywords,
 *   function names and depths are told apart by the parser.
 * - `attr`: `name:` — the colon switches the lexer to value mode, which emits `value`
 *   (and `equals` between a tag's name and value).
 * - `string`: a double-quoted string outside value mode (a quoted bare key).
 * - `invalid`: a character that starts no token; the parser reports it with what it expected.
 */
export type TokenType =
  | 'lparen'
  | 'rparen'
  | 'plus'
  | 'word'
  | 'string'
  | 'attr'
  | 'value'
  | 'equals'
  | 'invalid'
  | 'eof';

export interface Token {
  type: TokenType;
  /** The token's text: the word, the attribute name, or the unquoted value. */
  text: string;
  /** The source as written (with quotes and escapes), for messages. */
  raw: string;
  /** 1-based column of the first character. */
  column: number;
  /** Whether a `value`/`string` was written in double quotes. */
  quoted: boolean;
}

const WORD_CHAR = /[A-Za-z0-9_.\-/*]/;
/** Characters that end an unquoted attribute value. */
const VALUE_END = /[\s()+"=]/;

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;

  const push = (type: TokenType, start: number, value: string, quoted = false): void => {
    tokens.push({ type, text: value, raw: text.slice(start, i), column: start + 1, quoted });
  };

  /** Reads a double-quoted string starting at `i`; returns its unescaped content. */
  const readQuoted = (): string => {
    const open = i;
    i++;
    let out = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) {
        throw new SelectionSyntaxError(text, text.length + 1, `a closing '"' for the string opened at column ${open + 1}`, 'end of input');
      }
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const next = text[i + 1];
        if (next !== '"' && next !== '\\') {
          throw new SelectionSyntaxError(
            text,
            i + 1,
            `'\\"' or '\\\\' (the only escapes in a quoted string)`,
            next === undefined ? 'end of input' : `'\\${next}'`,
          );
        }
        out += next;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
  };

  /** Value mode, after `attr:` or a tag's `=`. Emits nothing when no value is there. */
  const readValue = (): void => {
    for (;;) {
      const start = i;
      if (text[i] === '"') {
        const value = readQuoted();
        push('value', start, value, true);
      } else {
        while (i < text.length && !VALUE_END.test(text[i]!)) i++;
        if (i > start) push('value', start, text.slice(start, i));
      }
      if (text[i] !== '=') return;
      const eq = i;
      i++;
      push('equals', eq, '=');
    }
  };

  while (i < text.length) {
    const c = text[i]!;
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      i++;
      push('lparen', start, c);
    } else if (c === ')') {
      i++;
      push('rparen', start, c);
    } else if (c === '+') {
      i++;
      push('plus', start, c);
    } else if (c === '"') {
      const value = readQuoted();
      push('string', start, value, true);
    } else if (WORD_CHAR.test(c)) {
      while (i < text.length && WORD_CHAR.test(text[i]!)) i++;
      const word = text.slice(start, i);
      if (text[i] === ':') {
        i++;
        push('attr', start, word);
        readValue();
      } else {
        push('word', start, word);
      }
    } else {
      i++;
      push('invalid', start, c);
    }
  }
  tokens.push({ type: 'eof', text: '', raw: '', column: text.length + 1, quoted: false });
  return tokens;
}
