/**
 * The audited quoting functions, checked on DuckDB (same string-literal rules as Trino/Athena:
 * single quotes doubled, no backslash escapes): hostile values and identifiers round-trip exactly.
 */
import test from 'ava';
import { DuckDBInstance } from '@duckdb/node-api';

import {
  SqlValueError,
  ddlIdentifier,
  firstLine,
  parseTimestampText,
  sqlIdentifier,
  sqlString,
  sqlTimestamp,
  sqlValue,
  timestampText,
  valueText,
} from '../../assets/warehouse/athena-sql.js';

const HOSTILE = [
  "O'Brien",
  "''; DROP TABLE sf_raw.sf_user; --",
  'back\\slash \\n not a newline \\\' still one quote',
  'line1\nline2\r\nline3\ttab',
  'Zoë Ångström-Łukasiewicz',
  '山田 太郎',
  'Ιωάννης Παπαδόπουλος',
  'Дмитрий Шостакович',
  'محمد عبد الله',
  'שרה כהן',
  'अनिल कुमार',
  '😀 emoji 👩‍👩‍👧 family',
  '"double" `back` $$dollar$$ %percent% _under_',
  '',
  ' ',
  "'",
  "''",
  '\\',
  '\\\'',
];

test('sqlString output round-trips hostile names through DuckDB', async (t) => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    for (const value of HOSTILE) {
      const reader = await conn.runAndReadAll(`SELECT ${sqlString(value)} AS v, length(${sqlString(value)}) AS n`);
      const [got] = reader.getRowsJS()[0]!;
      t.is(got, value, `round-trip of ${JSON.stringify(value)}`);
    }
    // The same values through a table and a WHERE on the literal.
    await conn.run('CREATE TABLE names (v VARCHAR)');
    await conn.run(`INSERT INTO names VALUES ${HOSTILE.map((v) => `(${sqlString(v)})`).join(', ')}`);
    for (const value of HOSTILE) {
      const reader = await conn.runAndReadAll(`SELECT count(*) FROM names WHERE v = ${sqlString(value)}`);
      t.is(Number(reader.getRowsJS()[0]![0]), HOSTILE.filter((v) => v === value).length, JSON.stringify(value));
    }
    t.is(Number((await conn.runAndReadAll('SELECT count(*) FROM names')).getRowsJS()[0]![0]), HOSTILE.length, 'no injected statement ran');
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});

test('sqlIdentifier round-trips hostile identifiers through DuckDB', async (t) => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const names = ['a"b', 'with space', 'line\nbreak', 'back\\slash', 'ü_名前', "quote'd"];
    await conn.run(`CREATE TABLE t (${names.map((n) => `${sqlIdentifier(n)} VARCHAR`).join(', ')})`);
    const reader = await conn.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY ordinal_position`);
    t.deepEqual(reader.getRowsJS().map((r) => r[0]), names);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
});

test('exact quoting output (the audit table)', (t) => {
  t.is(sqlString("O'Brien"), "'O''Brien'");
  t.is(sqlString('a\\b'), "'a\\b'");
  t.is(sqlString('a\nb'), "'a\nb'");
  t.is(sqlIdentifier('a"b'), '"a""b"');
  t.is(ddlIdentifier('a`b'), '`a``b`');
  t.is(sqlTimestamp(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), "TIMESTAMP '2024-01-02 03:04:05.006'");
  t.throws(() => sqlString('nul\u0000'), { instanceOf: SqlValueError });
  t.throws(() => sqlString('lone \uD800 surrogate'), { instanceOf: SqlValueError });
  t.throws(() => sqlIdentifier(''), { instanceOf: SqlValueError });
  t.throws(() => sqlTimestamp(new Date(Number.NaN)), { instanceOf: SqlValueError });
});

test('typed literals evaluate to the same values on DuckDB', async (t) => {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const at = new Date(Date.UTC(2023, 11, 31, 23, 59, 59, 999));
    const cases: [string, string][] = [
      [sqlValue(at, 'c', 'timestamp'), '2023-12-31 23:59:59.999'],
      [sqlValue(at, 'c', 'date'), '2023-12-31'],
      [sqlValue('true', 'c', 'boolean'), 'true'],
      [sqlValue(1.5, 'c', 'double'), '1.5'],
      [sqlValue('9007199254740993', 'c', 'bigint'), '9007199254740993'],
      [sqlValue(null, 'c', 'string'), 'NULL'],
      [sqlValue("it's", 'c', 'string'), "it's"],
    ];
    for (const [literal, want] of cases) {
      const reader = await conn.runAndReadAll(`SELECT coalesce(CAST(${literal} AS VARCHAR), 'NULL')`);
      t.is(reader.getRowsJS()[0]![0], want, literal);
    }
    // Staged text + CAST restores the value (the MERGE's path).
    for (const [type, v] of [['timestamp', at], ['boolean', false], ['double', -0.25], ['bigint', 42], ['date', at]] as const) {
      const text = valueText(v, 'c', type)!;
      const reader = await conn.runAndReadAll(`SELECT CAST(CAST(${sqlString(text)} AS ${type}) AS VARCHAR)`);
      t.truthy(reader.getRowsJS()[0]![0], `${type} ${text}`);
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  t.is(timestampText(parseTimestampText('2024-05-06 07:08:09.123456')), '2024-05-06 07:08:09.123');
  t.is(parseTimestampText('2024-05-06 07:08:09').toISOString(), '2024-05-06T07:08:09.000Z');
});

test('firstLine names a statement by its first line of SQL, past leading comments (dbt\'s query header)', (t) => {
  t.is(firstLine('MERGE INTO "sf_raw"."sf_user" AS t\nUSING x'), 'MERGE INTO "sf_raw"."sf_user" AS t');
  t.is(firstLine('-- /* {"app": "dbt", "node_id": "model.x"} */\n\n  create or replace view "sf_staging"."stg" as\nselect 1'), 'create or replace view "sf_staging"."stg" as');
  t.is(firstLine('/* header\n spanning lines */ select 1\nfrom t'), 'select 1');
  t.is(firstLine('-- only a comment'), '-- only a comment', 'a statement that is all comment is shown as it is');
  t.is(firstLine(`SELECT ${'x, '.repeat(100)}1`, 20), 'SELECT x, x, x, x, x…');
});
