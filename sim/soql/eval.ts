import type { SfValue, UserRec } from '../record.js';
import type { FieldDef, FieldType, UserSchema } from '../schema.js';
import { pointer, SoqlError } from './errors.js';
import { parseSoql, type Cond, type FieldRef, type Literal, type Query } from './parser.js';

export interface ValueSource {
  readonly schema: UserSchema;
  value(rec: UserRec, def: FieldDef): SfValue;
}

export interface CompiledQuery {
  query: Query;
  count: boolean;
  /** Selected fields, canonical names, in SELECT order. */
  fields: FieldDef[];
  /** Filters, sorts and limits; the result is a snapshot (array of immutable versions). */
  run(records: ReadonlyArray<UserRec | undefined>): UserRec[];
}

type Pred = (rec: UserRec) => boolean;
type Kind = 'string' | 'id' | 'number' | 'bool' | 'datetime' | 'date';

function kindOf(t: FieldType): Kind {
  switch (t) {
    case 'id': case 'reference': return 'id';
    case 'boolean': return 'bool';
    case 'datetime': return 'datetime';
    case 'date': return 'date';
    case 'double': case 'int': return 'number';
    default: return 'string';
  }
}

const TYPE_WORD: Record<Kind, string> = { string: 'string', id: 'id', number: 'number', bool: 'boolean', datetime: 'dateTime', date: 'date' };

export function compileSoql(text: string, src: ValueSource): CompiledQuery {
  const query = parseSoql(text);
  const q = query.text;
  if (query.from.name.toLowerCase() !== 'user') {
    throw new SoqlError('INVALID_TYPE', `${pointer(q, query.from.pos)}\nsObject type '${query.from.name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`);
  }
  const field = (ref: FieldRef): FieldDef => {
    const name = ref.name.replace(/^user\./i, '');
    const def = src.schema.lookup(name);
    if (!def) {
      throw new SoqlError('INVALID_FIELD', `${pointer(q, ref.pos)}\nNo such column '${ref.name}' on entity 'User'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`);
    }
    return def;
  };

  const fields = query.select === 'count' ? [] : query.select.map(field);
  const seen = new Set<string>();
  for (const f of fields) {
    if (seen.has(f.name)) throw new SoqlError('MALFORMED_QUERY', `duplicate field selected: ${f.name}`);
    seen.add(f.name);
  }

  const literalValue = (def: FieldDef, lit: Literal): SfValue => {
    const kind = kindOf(def.type);
    if (lit.t === 'null') return null;
    const ok =
      (kind === 'string' || kind === 'id') ? lit.t === 'string'
        : kind === 'number' ? lit.t === 'number'
          : kind === 'bool' ? lit.t === 'bool'
            : kind === 'datetime' ? lit.t === 'datetime'
              : lit.t === 'date';
    if (!ok) {
      const quoted = kind === 'string' || kind === 'id';
      throw new SoqlError('INVALID_FIELD', `value of filter criterion for field '${def.name}' must be of type ${TYPE_WORD[kind]} and ${quoted ? 'should be enclosed in quotes' : 'should not be enclosed in quotes'}`);
    }
    return lit.v;
  };

  const norm = (kind: Kind, v: SfValue): SfValue => {
    if (typeof v !== 'string') return v;
    if (kind === 'string') return v.toLowerCase();
    if (kind === 'id') return v.slice(0, 15);
    return v;
  };

  const compile = (c: Cond): Pred => {
    switch (c.k) {
      case 'and': { const a = compile(c.a), b = compile(c.b); return (r) => a(r) && b(r); }
      case 'or': { const a = compile(c.a), b = compile(c.b); return (r) => a(r) || b(r); }
      case 'not': { const a = compile(c.c); return (r) => !a(r); }
      case 'like': {
        const def = field(c.field);
        if (kindOf(def.type) !== 'string') throw new SoqlError('INVALID_FIELD', `invalid operator on ${def.type} field: LIKE`);
        const re = new RegExp(`^${c.pattern.replace(/\\[%_]|[%_]|[.*+?^${}()|[\]\\]/g, (m) =>
          m === '%' ? '[\\s\\S]*' : m === '_' ? '[\\s\\S]' : m.length === 2 ? `\\${m[1]}` : `\\${m}`)}$`, 'i');
        return (r) => { const v = src.value(r, def); return typeof v === 'string' && re.test(v); };
      }
      case 'in': {
        const def = field(c.field);
        const kind = kindOf(def.type);
        const set = new Set(c.values.map((l) => norm(kind, literalValue(def, l))));
        return c.not
          ? (r) => !set.has(norm(kind, src.value(r, def)))
          : (r) => set.has(norm(kind, src.value(r, def)));
      }
      case 'cmp': {
        const def = field(c.field);
        const kind = kindOf(def.type);
        const lit = norm(kind, literalValue(def, c.value));
        const get = (r: UserRec): SfValue => norm(kind, src.value(r, def));
        if (lit === null) {
          if (c.op === '=') return (r) => get(r) === null;
          if (c.op === '!=') return (r) => get(r) !== null;
          return () => false;
        }
        if (kind === 'bool' && c.op !== '=' && c.op !== '!=') {
          throw new SoqlError('INVALID_FIELD', `invalid operator on boolean field: ${c.op}`);
        }
        // SOQL's != also matches nulls, unlike SQL.
        switch (c.op) {
          case '=': return (r) => get(r) === lit;
          case '!=': return (r) => get(r) !== lit;
          case '<': return (r) => { const v = get(r); return v !== null && v < lit; };
          case '<=': return (r) => { const v = get(r); return v !== null && v <= lit; };
          case '>': return (r) => { const v = get(r); return v !== null && v > lit; };
          case '>=': return (r) => { const v = get(r); return v !== null && v >= lit; };
        }
      }
    }
  };

  const pred = query.where ? compile(query.where) : undefined;
  const order = query.orderBy.map((o) => ({ def: field(o.field), desc: o.desc, nullsLast: o.nullsLast }));

  return {
    query,
    count: query.select === 'count',
    fields,
    run(records) {
      let out: UserRec[] = [];
      for (const r of records) if (r && (!pred || pred(r))) out.push(r);
      if (order.length > 0) {
        const keys = order.map((o) => out.map((r) => norm(kindOf(o.def.type), src.value(r, o.def))));
        const idx = out.map((_, i) => i);
        idx.sort((x, y) => {
          for (let k = 0; k < order.length; k++) {
            const o = order[k]!;
            const a = keys[k]![x]!, b = keys[k]![y]!;
            if (a === b) continue;
            if (a === null) return o.nullsLast ? 1 : -1;
            if (b === null) return o.nullsLast ? -1 : 1;
            const cmp = a < b ? -1 : 1;
            return o.desc ? -cmp : cmp;
          }
          return x - y;
        });
        out = idx.map((i) => out[i]!);
      }
      const offset = query.offset ?? 0;
      if (offset > 0 || query.limit !== undefined) {
        out = out.slice(offset, query.limit !== undefined ? offset + query.limit : undefined);
      }
      return out;
    },
  };
}
