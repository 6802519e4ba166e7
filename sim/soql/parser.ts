import { malformed } from './errors.js';
import { tokenize, type Token } from './lexer.js';

export type Literal =
  | { t: 'string'; v: string }
  | { t: 'number'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'null' }
  | { t: 'datetime'; v: number }
  | { t: 'date'; v: number };

export interface FieldRef {
  name: string;
  pos: number;
}

export type Cond =
  | { k: 'and' | 'or'; a: Cond; b: Cond }
  | { k: 'not'; c: Cond }
  | { k: 'cmp'; field: FieldRef; op: '=' | '!=' | '<' | '<=' | '>' | '>='; value: Literal; pos: number }
  | { k: 'in'; field: FieldRef; values: Literal[]; not: boolean; pos: number }
  | { k: 'like'; field: FieldRef; pattern: string; pos: number };

export interface OrderItem {
  field: FieldRef;
  desc: boolean;
  nullsLast: boolean;
}

export interface Query {
  text: string;
  /** 'count' for SELECT COUNT(). */
  select: FieldRef[] | 'count';
  from: FieldRef;
  where?: Cond;
  orderBy: OrderItem[];
  limit?: number;
  offset?: number;
}

const RESERVED = new Set(['select', 'from', 'where', 'order', 'by', 'limit', 'offset', 'and', 'or', 'not', 'in', 'like', 'asc', 'desc', 'nulls', 'null', 'true', 'false', 'group', 'having']);

class Parser {
  private i = 0;
  constructor(private readonly q: string, private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isKw(kw: string, t: Token = this.peek()): boolean {
    return t.kind === 'ident' && t.text.toLowerCase() === kw;
  }
  private eatKw(kw: string): boolean {
    if (this.isKw(kw)) { this.i++; return true; }
    return false;
  }
  private expectKw(kw: string): void {
    if (!this.eatKw(kw)) this.unexpected();
  }
  private unexpected(t: Token = this.peek()): never {
    throw malformed(this.q, t.pos, t.kind === 'eof' ? 'unexpected end of query' : `unexpected token: '${t.text}'`);
  }
  private field(): FieldRef {
    const t = this.next();
    if (t.kind !== 'ident' || RESERVED.has(t.text.toLowerCase())) this.unexpected(t);
    return { name: t.text, pos: t.pos };
  }
  private integer(): number {
    const t = this.next();
    if (t.kind !== 'number' || !/^\d+$/.test(t.text)) this.unexpected(t);
    return Number(t.text);
  }

  parse(): Query {
    this.expectKw('select');
    let select: Query['select'];
    if (this.isKw('count') && this.toks[this.i + 1]?.kind === 'lparen') {
      this.i += 2;
      if (this.peek().kind !== 'rparen') {
        throw malformed(this.q, this.peek().pos, 'the simulator supports only COUNT() among aggregate functions');
      }
      this.i++;
      select = 'count';
    } else {
      select = [this.field()];
      while (this.peek().kind === 'comma') {
        this.i++;
        select.push(this.field());
      }
    }
    this.expectKw('from');
    const from = this.field();
    const q: Query = { text: this.q, select, from, orderBy: [] };
    if (this.eatKw('where')) q.where = this.orExpr();
    if (this.isKw('order')) {
      this.i++;
      this.expectKw('by');
      do {
        if (q.orderBy.length > 0) this.i++;
        const field = this.field();
        const desc = this.eatKw('desc') ? true : (this.eatKw('asc'), false);
        let nullsLast = desc;
        if (this.eatKw('nulls')) {
          if (this.eatKw('first')) nullsLast = false;
          else if (this.eatKw('last')) nullsLast = true;
          else this.unexpected();
        }
        q.orderBy.push({ field, desc, nullsLast });
      } while (this.peek().kind === 'comma');
    }
    if (this.eatKw('limit')) q.limit = this.integer();
    if (this.eatKw('offset')) q.offset = this.integer();
    if (this.peek().kind !== 'eof') this.unexpected();
    return q;
  }

  private orExpr(): Cond {
    let a = this.andExpr();
    while (this.eatKw('or')) a = { k: 'or', a, b: this.andExpr() };
    return a;
  }
  private andExpr(): Cond {
    let a = this.unary();
    while (this.eatKw('and')) a = { k: 'and', a, b: this.unary() };
    return a;
  }
  private unary(): Cond {
    if (this.eatKw('not')) return { k: 'not', c: this.unary() };
    if (this.peek().kind === 'lparen') {
      this.i++;
      const c = this.orExpr();
      if (this.next().kind !== 'rparen') this.unexpected(this.toks[this.i - 1]);
      return c;
    }
    return this.predicate();
  }
  private predicate(): Cond {
    const field = this.field();
    const t = this.peek();
    if (t.kind === 'op') {
      this.i++;
      return { k: 'cmp', field, op: t.text as '=', value: this.literal(), pos: t.pos };
    }
    if (this.isKw('not') && this.isKw('in', this.toks[this.i + 1])) {
      this.i += 2;
      return { k: 'in', field, values: this.list(), not: true, pos: t.pos };
    }
    if (this.eatKw('in')) return { k: 'in', field, values: this.list(), not: false, pos: t.pos };
    if (this.eatKw('like')) {
      const p = this.next();
      if (p.kind !== 'string') this.unexpected(p);
      return { k: 'like', field, pattern: p.text, pos: t.pos };
    }
    this.unexpected(t);
  }
  private list(): Literal[] {
    if (this.next().kind !== 'lparen') this.unexpected(this.toks[this.i - 1]);
    const out = [this.literal()];
    while (this.peek().kind === 'comma') {
      this.i++;
      out.push(this.literal());
    }
    if (this.next().kind !== 'rparen') this.unexpected(this.toks[this.i - 1]);
    return out;
  }
  private literal(): Literal {
    const t = this.next();
    switch (t.kind) {
      case 'string': return { t: 'string', v: t.text };
      case 'number': return { t: 'number', v: Number(t.text) };
      case 'datetime': return { t: 'datetime', v: t.ms! };
      case 'date': return { t: 'date', v: t.ms! };
      case 'ident': {
        const w = t.text.toLowerCase();
        if (w === 'null') return { t: 'null' };
        if (w === 'true' || w === 'false') return { t: 'bool', v: w === 'true' };
        break;
      }
      default: break;
    }
    this.unexpected(t);
  }
}

export function parseSoql(q: string): Query {
  return new Parser(q, tokenize(q)).parse();
}
