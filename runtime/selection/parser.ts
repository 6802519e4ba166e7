import { ATTRIBUTES, FUNCTIONS, type AttributeName, type SelectionFunction, type SelectionNode } from './ast.js';
import { SelectionSyntaxError } from './errors.js';
import { tokenize, type Token } from './lexer.js';

/**
 * Parses Dagster's asset selection syntax. Precedence, loosest first:
 *
 *   or      := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | walk
 *   walk    := [DIGITS] "+" primary ["+" [DIGITS]] | primary ["+" [DIGITS]]
 *   primary := "*" | KEY | ATTR ":" VALUE | ATTR ":" VALUE "=" VALUE | FUNC "(" or ")" | "(" or ")"
 *
 * Keywords are case-insensitive. Throws SelectionSyntaxError.
 */
export function parseSelection(text: string): SelectionNode {
  return new Parser(text).parse();
}

const KEYWORDS = new Set(['and', 'or', 'not']);
const DIGITS = /^[0-9]+$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EXPRESSION = 'an expression';
const VALUE = 'a value';

class Parser {
  readonly #text: string;
  readonly #tokens: Token[];
  #pos = 0;

  constructor(text: string) {
    this.#text = text;
    this.#tokens = tokenize(text);
  }

  parse(): SelectionNode {
    const node = this.#or();
    if (this.#peek().type !== 'eof') this.#fail('"and", "or" or end of input');
    return node;
  }

  #or(): SelectionNode {
    let left = this.#and();
    while (this.#isKeyword(this.#peek(), 'or')) {
      const op = this.#next();
      left = { type: 'or', left, right: this.#and(), column: op.column };
    }
    return left;
  }

  #and(): SelectionNode {
    let left = this.#not();
    while (this.#isKeyword(this.#peek(), 'and')) {
      const op = this.#next();
      left = { type: 'and', left, right: this.#not(), column: op.column };
    }
    return left;
  }

  #not(): SelectionNode {
    if (this.#isKeyword(this.#peek(), 'not')) {
      const op = this.#next();
      return { type: 'not', operand: this.#not(), column: op.column };
    }
    return this.#walk();
  }

  #walk(): SelectionNode {
    const first = this.#peek();
    let up: number | undefined;
    if (first.type === 'word' && DIGITS.test(first.text) && this.#peek(1).type === 'plus') {
      up = Number(first.text);
      this.#pos += 2;
    } else if (first.type === 'plus') {
      up = Infinity;
      this.#pos += 1;
    }
    const operand = this.#primary();
    let down: number | undefined;
    if (this.#peek().type === 'plus') {
      this.#next();
      const depth = this.#peek();
      if (depth.type === 'word' && DIGITS.test(depth.text)) {
        down = Number(depth.text);
        this.#next();
      } else {
        down = Infinity;
      }
    }
    if (up === undefined && down === undefined) return operand;
    return {
      type: 'traverse',
      operand,
      ...(up === undefined ? {} : { up }),
      ...(down === undefined ? {} : { down }),
      column: first.column,
    };
  }

  #primary(): SelectionNode {
    const tok = this.#peek();
    switch (tok.type) {
      case 'lparen': {
        this.#next();
        const inner = this.#or();
        this.#expect('rparen', '")"');
        return inner;
      }
      case 'attr':
        return this.#attribute();
      case 'string':
        this.#next();
        return { type: 'key', pattern: tok.text, column: tok.column };
      case 'word': {
        if (KEYWORDS.has(tok.text.toLowerCase())) this.#fail(EXPRESSION);
        if (tok.text === '*') {
          this.#next();
          return { type: 'all', column: tok.column };
        }
        if (IDENTIFIER.test(tok.text) && this.#peek(1).type === 'lparen') return this.#call();
        this.#next();
        return { type: 'key', pattern: tok.text, column: tok.column };
      }
      default:
        return this.#fail(EXPRESSION);
    }
  }

  #call(): SelectionNode {
    const name = this.#peek();
    if (!(FUNCTIONS as readonly string[]).includes(name.text)) {
      this.#fail(`a function name (${FUNCTIONS.map((f) => `"${f}"`).join(' or ')})`);
    }
    this.#pos += 2; // name and "("
    const operand = this.#or();
    this.#expect('rparen', '")"');
    return { type: 'function', name: name.text as SelectionFunction, operand, column: name.column };
  }

  #attribute(): SelectionNode {
    const attr = this.#peek();
    if (!(ATTRIBUTES as readonly string[]).includes(attr.text)) {
      this.#fail(`an attribute (${ATTRIBUTES.map((a) => `"${a}:"`).join(', ')})`);
    }
    const name = attr.text as AttributeName;
    this.#next();
    const value = this.#expect('value', VALUE).text;
    const column = attr.column;
    switch (name) {
      case 'key':
        return { type: 'key', pattern: value, column };
      case 'tag':
        if (this.#peek().type === 'equals') {
          this.#next();
          return { type: 'tag', name: value, value: this.#expect('value', VALUE).text, column };
        }
        return { type: 'tag', name: value, column };
      case 'group':
      case 'owner':
      case 'kind':
        return { type: name, value, column };
    }
  }

  #isKeyword(tok: Token, keyword: string): boolean {
    return tok.type === 'word' && tok.text.toLowerCase() === keyword;
  }

  #peek(ahead = 0): Token {
    return this.#tokens[Math.min(this.#pos + ahead, this.#tokens.length - 1)]!;
  }

  #next(): Token {
    const tok = this.#peek();
    if (tok.type !== 'eof') this.#pos++;
    return tok;
  }

  #expect(type: Token['type'], expected: string): Token {
    if (this.#peek().type !== type) this.#fail(expected);
    return this.#next();
  }

  /** Throws a syntax error at the current token. */
  #fail(expected: string): never {
    const tok = this.#peek();
    throw new SelectionSyntaxError(this.#text, tok.column, expected, describe(tok));
  }
}

function describe(tok: Token): string {
  if (tok.type === 'eof') return 'end of input';
  let raw = tok.raw;
  if (raw.length > 30) raw = `${raw.slice(0, 27)}...`;
  return raw.includes('"') ? `'${raw}'` : `"${raw}"`;
}
