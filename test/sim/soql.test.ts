import test from 'ava';
import { SimOrg } from '../../sim/org.js';
import { compileSoql } from '../../sim/soql/eval.js';
import { SoqlError } from '../../sim/soql/errors.js';
import { tokenize } from '../../sim/soql/lexer.js';
import { parseSoql } from '../../sim/soql/parser.js';

const org = new SimOrg({ users: 500, seed: 7 });

function ids(soql: string): string[] {
  return compileSoql(soql, org).run(org.visibleRecords()).map((r) => org.idOf(r.n));
}

function err(soql: string): SoqlError {
  try {
    compileSoql(soql, org);
  } catch (e) {
    if (e instanceof SoqlError) return e;
    throw e;
  }
  throw new Error(`expected ${soql} to fail`);
}

test('lexer: datetime literal forms and string escapes', (t) => {
  const toks = tokenize("x >= 2025-05-01T10:30:00Z AND y < 2025-05-01T10:30:00.000+0000 AND z = 'O\\'Brien \\\\ \\\"q\\\" \\n'");
  const dts = toks.filter((k) => k.kind === 'datetime');
  t.deepEqual(dts.map((d) => d.ms), [Date.UTC(2025, 4, 1, 10, 30), Date.UTC(2025, 4, 1, 10, 30)]);
  t.is(toks.find((k) => k.kind === 'string')!.text, 'O\'Brien \\ "q" \n');
  t.is(tokenize('a = 2025-05-01T12:30:00+02:00')[2]!.ms, Date.UTC(2025, 4, 1, 10, 30));
});

test('parser: keywords are case-insensitive, ORDER BY / LIMIT / COUNT()', (t) => {
  const p = parseSoql('select Id, name FROM user where (Division = \'North\' or not IsActive = true) order by SystemModstamp desc, Id limit 10');
  t.deepEqual(p.select !== 'count' && p.select.map((f) => f.name), ['Id', 'name']);
  t.is(p.orderBy.length, 2);
  t.true(p.orderBy[0]!.desc);
  t.is(p.limit, 10);
  t.is(parseSoql('SELECT COUNT() FROM User').select, 'count');
});

test('eval: field names are case-insensitive and results use canonical names', (t) => {
  const cq = compileSoql('SELECT id, SYSTEMMODSTAMP, audit_phase__c FROM User', org);
  t.deepEqual(cq.fields.map((f) => f.name), ['Id', 'SystemModstamp', 'Audit_Phase__c']);
});

test('eval: comparisons, null semantics, AND/OR/NOT, IN, LIKE', (t) => {
  const all = [...org.all()];
  const north = all.filter((u) => String(u.Division).toLowerCase() === 'north').map((u) => u.Id);
  t.deepEqual(ids("SELECT Id FROM User WHERE Division = 'north'"), north, 'string = is case-insensitive');
  t.deepEqual(ids('SELECT Id FROM User WHERE Division = null'), all.filter((u) => u.Division === null).map((u) => u.Id));
  t.deepEqual(ids("SELECT Id FROM User WHERE Division != 'North'"), all.filter((u) => String(u.Division).toLowerCase() !== 'north').map((u) => u.Id), '!= includes nulls');
  t.deepEqual(
    ids("SELECT Id FROM User WHERE NOT (Division = 'North' OR Division = 'South') AND IsActive = true"),
    all.filter((u) => !['north', 'south'].includes(String(u.Division).toLowerCase()) && u.IsActive === true).map((u) => u.Id),
  );
  t.deepEqual(ids("SELECT Id FROM User WHERE Division IN ('East', 'West')"), all.filter((u) => u.Division === 'East' || u.Division === 'West').map((u) => u.Id));
  t.deepEqual(ids("SELECT Id FROM User WHERE LastName LIKE 'O\\'%'"), all.filter((u) => String(u.LastName).startsWith("O'")).map((u) => u.Id));
  const cut = '2024-06-01T00:00:00.000+0000';
  t.deepEqual(
    ids('SELECT Id FROM User WHERE SystemModstamp >= 2024-06-01T00:00:00Z'),
    all.filter((u) => String(u.SystemModstamp) >= cut).map((u) => u.Id),
  );
  const id = all[3]!.Id as string;
  t.deepEqual(ids(`SELECT Id FROM User WHERE Id = '${id.slice(0, 15)}'`), [id], '15-char ids match');
});

test('eval: ORDER BY with nulls first for ASC, LIMIT, OFFSET', (t) => {
  const rows = compileSoql('SELECT Id FROM User ORDER BY Division, SystemModstamp DESC LIMIT 50', org).run(org.visibleRecords());
  t.is(rows.length, 50);
  t.is(rows[0]!.division, null);
  const byStamp = compileSoql('SELECT Id FROM User ORDER BY SystemModstamp DESC', org).run(org.visibleRecords());
  for (let i = 1; i < byStamp.length; i++) t.true(byStamp[i - 1]!.sysMod >= byStamp[i]!.sysMod);
  t.deepEqual(
    compileSoql('SELECT Id FROM User ORDER BY Id LIMIT 5 OFFSET 5', org).run(org.visibleRecords()).map((r) => r.n),
    [6, 7, 8, 9, 10],
  );
});

test('errors: INVALID_FIELD, MALFORMED_QUERY, INVALID_TYPE, typed literals', (t) => {
  const e = err('SELECT Id, IsDeleted FROM User');
  t.is(e.errorCode, 'INVALID_FIELD');
  t.regex(e.message, /No such column 'IsDeleted' on entity 'User'/);
  t.regex(e.message, /ERROR at Row:1:Column:12/);
  t.is(err('SELECT Id FROM User WHERE IsDeleted = false').errorCode, 'INVALID_FIELD');
  t.is(err('SELECT Id FROM User WHERE').errorCode, 'MALFORMED_QUERY');
  t.is(err('SELECT Id User').errorCode, 'MALFORMED_QUERY');
  t.is(err("SELECT Id FROM User WHERE Name = 'unterminated").errorCode, 'MALFORMED_QUERY');
  t.is(err("SELECT Id FROM User WHERE Name = 'bad \\q escape'").errorCode, 'MALFORMED_QUERY');
  t.is(err('SELECT Id FROM Account').errorCode, 'INVALID_TYPE');
  const quoted = err("SELECT Id FROM User WHERE SystemModstamp > '2025-01-01T00:00:00Z'");
  t.is(quoted.errorCode, 'INVALID_FIELD');
  t.regex(quoted.message, /must be of type dateTime and should not be enclosed in quotes/);
});
