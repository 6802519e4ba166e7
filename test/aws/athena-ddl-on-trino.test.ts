/**
 * The Athena front's only rewrites (fixtures/athena-ddl-on-trino.ts): Athena's Hive-style DDL into
 * Trino's. One test per rule (Athena statement → the exact Trino statements), the statements that
 * must pass byte for byte, and one test that runs each rewritten form on the real Trino through the
 * front and looks at what it made in Glue, S3 and Trino.
 */
import test from 'ava';
import { CreateDatabaseCommand, GetTableCommand } from '@aws-sdk/client-glue';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

import { AthenaQueryRunner } from '../../assets/warehouse/athena-query.js';
import { addColumnsSql, createIcebergTableSql, createStageTableSql, dropTableSql } from '../../assets/warehouse/athena-statements.js';
import { TRINO_HIVE_CATALOG } from '../services/trino/start.js';
import { athenaDdlOnTrino, backquotesToDoubleQuotes, leadingComments } from './fixtures/athena-ddl-on-trino.js';
import { openAthenaOnTrino } from './fixtures/athena-emulation.js';

const rewrite = (sql: string): ReturnType<typeof athenaDdlOnTrino> => athenaDdlOnTrino(sql, 'hive');

// --- one rule at a time -----------------------------------------------------------------------

test('backquoted identifiers → double quotes (embedded quotes re-escaped); literals and comments untouched', (t) => {
  t.is(backquotesToDoubleQuotes('DROP TABLE `db`.`t`'), 'DROP TABLE "db"."t"');
  t.is(backquotesToDoubleQuotes('`a``b` `say "hi"`'), '"a`b" "say ""hi"""', 'a doubled backquote is one; a double quote inside is doubled');
  t.is(backquotesToDoubleQuotes("SELECT '`not`', \"`kept`\" FROM `t`"), 'SELECT \'`not`\', "`kept`" FROM "t"', 'inside string literals and quoted names, a backquote is text');
  t.is(backquotesToDoubleQuotes("SELECT 'it''s `x`' FROM `t`"), 'SELECT \'it\'\'s `x`\' FROM "t"', "an escaped '' does not end the literal");
  t.is(backquotesToDoubleQuotes("-- it's `x`\nSELECT `a`"), "-- it's `x`\nSELECT \"a\"", "an apostrophe in a -- comment opens no literal");
  t.is(backquotesToDoubleQuotes("/* don't `x` */ SELECT `a`"), "/* don't `x` */ SELECT \"a\"", 'nor in a /* */ comment');
  t.throws(() => backquotesToDoubleQuotes('SELECT `a'), { message: /unterminated `/ });
  t.deepEqual(rewrite(dropTableSql('db', 'sf_user_stage_0123456789ab')), {
    statements: ['DROP TABLE IF EXISTS "db"."sf_user_stage_0123456789ab"'],
    rules: ['backquoted identifiers'],
  });
});

test("Hive CREATE TABLE (Iceberg) → CREATE TABLE … WITH (format, partitioning, location, compression_codec), Hive column types → Trino's", (t) => {
  const columns = [
    { name: 'id', type: 'string' as const },
    { name: 'isactive', type: 'boolean' as const },
    { name: 'systemmodstamp', type: 'timestamp' as const },
    { name: 'n', type: 'bigint' as const },
    { name: '_extracted_at', type: 'timestamp' as const },
  ];
  t.deepEqual(rewrite(createIcebergTableSql('db', 't', columns, 's3://lake/warehouse/t/')), {
    statements: [
      [
        'CREATE TABLE IF NOT EXISTS "db"."t" (',
        '  "id" varchar,',
        '  "isactive" boolean,',
        '  "systemmodstamp" timestamp(6),',
        '  "n" bigint,',
        '  "_extracted_at" timestamp(6)',
        ')',
        "WITH (format = 'PARQUET', partitioning = ARRAY['day(_extracted_at)'], location = 's3://lake/warehouse/t/', compression_codec = 'SNAPPY')",
      ].join('\n'),
    ],
    rules: ['backquoted identifiers', 'Hive CREATE TABLE (Iceberg) → CREATE TABLE … WITH', 'Hive column types'],
  });
  // Without a partitioning, a location or a compression, and with Trino's type names already: no type rule.
  t.deepEqual(rewrite("CREATE TABLE db.t (\n  a varchar,\n  b bigint\n)\nTBLPROPERTIES ('table_type'='iceberg', 'format'='orc')"), {
    statements: ["CREATE TABLE db.t (\n  a varchar,\n  b bigint\n)\nWITH (format = 'ORC')"],
    rules: ['Hive CREATE TABLE (Iceberg) → CREATE TABLE … WITH'],
  });
  t.throws(() => rewrite("CREATE TABLE `db`.`t` (\n  `a` string\n)\nTBLPROPERTIES ('table_type'='HIVE')"), { message: /without 'table_type'='ICEBERG' has no Trino form/ });
});

test("Iceberg partition transforms: Athena's bucket(N, col) and truncate(N, col) are Trino's bucket(col, N) and truncate(col, N)", (t) => {
  const sql = "CREATE TABLE `db`.`t` (\n  `id` string,\n  `ts` timestamp,\n  `kind` string\n)\nPARTITIONED BY (`kind`, month(`ts`), bucket(16, `id`), truncate(4, `kind`))\nTBLPROPERTIES ('table_type'='ICEBERG')";
  t.deepEqual(rewrite(sql).statements, [
    "CREATE TABLE \"db\".\"t\" (\n  \"id\" varchar,\n  \"ts\" timestamp(6),\n  \"kind\" varchar\n)\nWITH (format = 'PARQUET', partitioning = ARRAY['kind', 'month(ts)', 'bucket(id, 16)', 'truncate(kind, 4)'])",
  ]);
});

test('ALTER TABLE … ADD COLUMNS (a t, b t) → one ADD COLUMN per column, with Trino types', (t) => {
  t.deepEqual(
    rewrite(
      addColumnsSql('db', 'sf_user', [
        { name: 'division', type: 'string' },
        { name: 'seen_at', type: 'timestamp' },
        { name: 'score', type: 'double' },
      ]),
    ),
    {
      statements: ['ALTER TABLE "db"."sf_user" ADD COLUMN "division" varchar', 'ALTER TABLE "db"."sf_user" ADD COLUMN "seen_at" timestamp(6)', 'ALTER TABLE "db"."sf_user" ADD COLUMN "score" double'],
      rules: ['backquoted identifiers', 'ADD COLUMNS → one ADD COLUMN each', 'Hive column types'],
    },
  );
});

test("CREATE EXTERNAL TABLE … JsonSerDe LOCATION → a table in the Hive catalog WITH (format = 'OPENX_JSON', external_location)", (t) => {
  t.deepEqual(rewrite(createStageTableSql('db', 'sf_user_stage_0123456789ab', ['id', 'name', '_seq'], 's3://lake/staging/run-1-0123456789ab/rows/')), {
    statements: [
      [
        'CREATE TABLE hive."db"."sf_user_stage_0123456789ab" (',
        '  "id" varchar,',
        '  "name" varchar,',
        '  "_seq" varchar',
        ')',
        "WITH (format = 'OPENX_JSON', external_location = 's3://lake/staging/run-1-0123456789ab/rows/')",
      ].join('\n'),
    ],
    rules: ['backquoted identifiers', 'external JSON table → Hive catalog', 'Hive column types'],
  });
  t.deepEqual(athenaDdlOnTrino("CREATE EXTERNAL TABLE IF NOT EXISTS db.s (\n  a string\n)\nROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nLOCATION 's3://lake/s/'", 'other').statements, [
    "CREATE TABLE IF NOT EXISTS other.db.s (\n  a varchar\n)\nWITH (format = 'OPENX_JSON', external_location = 's3://lake/s/')",
  ]);
  t.throws(() => rewrite("CREATE EXTERNAL TABLE `db`.`s` (\n  `a` string\n)\nROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe'\nLOCATION 's3://lake/s/'"), {
    message: /no rewrite for the SerDe org\.apache\.hadoop\.hive\.serde2\.lazy\.LazySimpleSerDe/,
  });
});

/** dbt-athena's CTAS (macros/materializations/models/table/create_table_as.sql), as it sends it. */
const DBT_HEADER = '/* {"app": "dbt", "dbt_version": "1.10.0", "profile_name": "sfpipe", "target_name": "prod", "node_id": "model.sfpipe.stg_sf_user"} */';

function dbtCtas(name: string, props: string[], query: string): string {
  return `${DBT_HEADER}\n\n    create table ${name}\n    with (\n      ${props.join(',\n      ')}\n    )\n    as\n      ${query}`;
}

test("CTAS properties: table_type, is_external and optimize_rewrite_delete_file_threshold dropped; write_compression → compression_codec; format upper-case", (t) => {
  const sql = dbtCtas(
    '"awsdatacatalog"."sf_staging"."stg_sf_user__dbt_tmp"',
    ["table_type='iceberg'", 'is_external=false', "location='s3://lake/dbt/sf_staging/stg_sf_user/0a1b/'", "partitioning=ARRAY['day(valid_from)', 'bucket(user_id, 8)']", "write_compression='zstd'", "format='parquet'", 'optimize_rewrite_delete_file_threshold=2'],
    'select \'it\'\'s `quoted`\' as "x", "y" from "awsdatacatalog"."sf_raw"."sf_user"',
  );
  t.deepEqual(rewrite(sql), {
    statements: [
      `${DBT_HEADER}\n\n    create table "awsdatacatalog"."sf_staging"."stg_sf_user__dbt_tmp"\n    with (\n` +
        "  location='s3://lake/dbt/sf_staging/stg_sf_user/0a1b/',\n  partitioning=ARRAY['day(valid_from)', 'bucket(user_id, 8)'],\n  compression_codec = 'ZSTD',\n  format = 'PARQUET'\n)\n" +
        '    as\n      select \'it\'\'s `quoted`\' as "x", "y" from "awsdatacatalog"."sf_raw"."sf_user"',
    ],
    rules: ['CTAS properties'],
  });
});

test("Hive CTAS (table_type='hive', dbt-athena's unit-test fixtures) → the same CTAS in the Hive catalog", (t) => {
  const sql = dbtCtas('"awsdatacatalog"."sf_staging"."fixture__dbt_tmp"', ["table_type='hive'", 'is_external=true', "external_location='s3://lake/tmp/fixture/'", "format='parquet'"], "select cast('a' as varchar) as id");
  t.deepEqual(rewrite(sql), {
    statements: [`${DBT_HEADER}\n\n    create table hive."sf_staging"."fixture__dbt_tmp"\n    with (\n  external_location='s3://lake/tmp/fixture/',\n  format = 'PARQUET'\n)\n    as\n      select cast('a' as varchar) as id`],
    rules: ['Hive CTAS → Hive catalog', 'CTAS properties'],
  });
  t.deepEqual(rewrite(dbtCtas('sf_staging.f', ["table_type='HIVE'", "format='parquet'"], 'select 1 as x')).statements[0]!.split('\n')[2], '    create table hive.sf_staging.f', 'a two-part name too');
});

// --- what is never rewritten ------------------------------------------------------------------

test('queries, MERGE, INSERT, DELETE and WITH pass byte for byte, even with backquotes or Hive DDL inside string literals', (t) => {
  const verbatim = [
    "SELECT '`db`.`t`' AS \"a\", 'CREATE EXTERNAL TABLE x (a string) ROW FORMAT SERDE ''org.openx.data.jsonserde.JsonSerDe''' AS \"b\" FROM \"db\".\"t\" WHERE c = 'PARTITIONED BY (day(`x`))'",
    "MERGE INTO \"db\".\"raw\" AS t\nUSING (SELECT 'ALTER TABLE `db`.`t` ADD COLUMNS (`x` string)' AS \"note\") s\nON (t.\"id\" = s.\"note\")\nWHEN NOT MATCHED THEN INSERT (\"id\") VALUES (s.\"note\")",
    "INSERT INTO \"db\".\"t\" (\"a\") VALUES ('`x`'), ('TBLPROPERTIES (''table_type''=''ICEBERG'')'), ('string timestamp')",
    "DELETE FROM \"db\".\"t\" WHERE \"a\" = 'DROP TABLE `db`.`t`'",
    "WITH s AS (SELECT 'CREATE TABLE `a`.`b` (`c` string) TBLPROPERTIES (''table_type''=''ICEBERG'')' AS \"ddl\")\nSELECT \"ddl\" FROM s",
    `${DBT_HEADER}\nselect '\`x\`' as "y"`,
    "-- CREATE TABLE `db`.`t` (`a` string)\nSELECT 1",
  ];
  for (const sql of verbatim) t.deepEqual(rewrite(sql), { statements: [sql], rules: [] }, sql.split('\n')[0]);
});

test('a comment before DDL is kept as it is (and may hold an apostrophe or a backquote); the rules apply to the statement after it', (t) => {
  const comment = "-- dbt's `run` of model.sfpipe.x\n/* it's \"quoted\" */\n";
  t.is(leadingComments(`${comment}  DROP TABLE \`db\`.\`t\``), `${comment}  `);
  t.deepEqual(rewrite(`${comment}DROP TABLE \`db\`.\`t\``), { statements: [`${comment}DROP TABLE "db"."t"`], rules: ['backquoted identifiers'] });
  t.deepEqual(rewrite(`${comment}ALTER TABLE \`db\`.\`t\` ADD COLUMNS (\n  \`a\` string,\n  \`b\` boolean\n)`).statements, [
    `${comment}ALTER TABLE "db"."t" ADD COLUMN "a" varchar`,
    `${comment}ALTER TABLE "db"."t" ADD COLUMN "b" boolean`,
  ]);
  // An apostrophe in a -- comment inside the statement does not open a literal: the backquotes after it are still names.
  const ctas = "CREATE TABLE `db`.`t` WITH (format='parquet') AS\n-- the owner's rows\nSELECT `a` FROM `db`.`src` WHERE b = 'it''s'";
  t.deepEqual(rewrite(ctas).statements, ["CREATE TABLE \"db\".\"t\" WITH (\n  format = 'PARQUET'\n) AS\n-- the owner's rows\nSELECT \"a\" FROM \"db\".\"src\" WHERE b = 'it''s'"]);
});

// --- on the real Trino, through the front -----------------------------------------------------

test('each rewritten DDL form runs on Trino through the front: what it made in Glue, S3 and Trino', async (t) => {
  t.timeout(300_000);
  const w = await openAthenaOnTrino(t, 'sfpipe-athena-ddl-', ['lake']);
  const { front, glue, s3 } = w;
  const lake = w.bucket('lake');
  const db = w.database('sf_ddl');
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: db } }));
  const athena = new AthenaQueryRunner(w.athena, { workGroup: 'primary', outputLocation: `s3://${lake}/results/`, pollInitialMs: 5, pollMaxMs: 50 });
  const run = (sql: string) => athena.run(sql, 'ddl test');
  const glueTable = async (name: string) => (await glue.send(new GetTableCommand({ DatabaseName: db, Name: name }))).Table!;
  const trinoDdl = async (name: string) => String((await w.trinoQuery(`SHOW CREATE TABLE "${db}"."${name}"`)).rows[0]![0]);

  // CREATE TABLE (Iceberg) with PARTITIONED BY: the adapter's own statement.
  const columns = [
    { name: 'id', type: 'string' as const },
    { name: 'systemmodstamp', type: 'timestamp' as const },
    { name: '_extracted_at', type: 'timestamp' as const },
  ];
  await run(createIcebergTableSql(db, 'ice', columns, `s3://${lake}/warehouse/ice/`));
  const ice = await glueTable('ice');
  t.is(ice.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG');
  t.true(ice.Parameters?.['metadata_location']?.startsWith(`s3://${lake}/warehouse/ice/metadata/`), ice.Parameters?.['metadata_location']);
  const iceDdl = await trinoDdl('ice');
  t.regex(iceDdl, /id varchar,\s+systemmodstamp timestamp\(6\),\s+_extracted_at timestamp\(6\)/);
  t.regex(iceDdl, /compression_codec = 'SNAPPY'/);
  t.regex(iceDdl, /format = 'PARQUET'/);
  t.regex(iceDdl, /partitioning = ARRAY\['day\(_extracted_at\)'\]/);

  // Athena's own transform syntax (width first), as its documentation writes it.
  await run(`CREATE TABLE \`${db}\`.\`buckets\` (\n  \`id\` string,\n  \`ts\` timestamp\n)\nPARTITIONED BY (bucket(4, \`id\`), month(\`ts\`))\nLOCATION 's3://${lake}/warehouse/buckets/'\nTBLPROPERTIES ('table_type'='ICEBERG')`);
  t.regex(await trinoDdl('buckets'), /partitioning = ARRAY\['bucket\(id, 4\)','month\(ts\)'\]/);

  // ALTER TABLE … ADD COLUMNS: both columns, in Glue (where the adapter reads them) and in Trino.
  await run(addColumnsSql(db, 'ice', [{ name: 'division', type: 'string' }, { name: 'seen_at', type: 'timestamp' }]));
  t.deepEqual((await glueTable('ice')).StorageDescriptor?.Columns?.map((c) => c.Name), ['id', 'systemmodstamp', '_extracted_at', 'division', 'seen_at']);
  t.deepEqual((await w.trinoQuery(`DESCRIBE "${db}"."ice"`)).rows.map((r) => [r[0], r[1]]), [
    ['id', 'varchar'],
    ['systemmodstamp', 'timestamp(6)'],
    ['_extracted_at', 'timestamp(6)'],
    ['division', 'varchar'],
    ['seen_at', 'timestamp(6)'],
  ]);

  // CREATE EXTERNAL TABLE over JSON files, then a query that names it in the Iceberg catalog (Athena's).
  const hostile = "O'Brien \"`x`\" \\ 山田\nline";
  await s3.send(new PutObjectCommand({ Bucket: lake, Key: 'stage/rows/part-00000.json', Body: `${JSON.stringify({ id: '1', name: hostile })}\n${JSON.stringify({ id: '2', name: null })}\n` }));
  await run(createStageTableSql(db, 'stage', ['id', 'name'], `s3://${lake}/stage/rows/`));
  const stage = await glueTable('stage');
  t.not(stage.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG', 'a Hive table');
  t.is(stage.TableType, 'EXTERNAL_TABLE');
  t.is(stage.StorageDescriptor?.Location?.replace(/\/?$/, '/'), `s3://${lake}/stage/rows/`);
  const read = await run(`SELECT "id", "name" FROM "awsdatacatalog"."${db}"."stage" ORDER BY "id"`);
  t.deepEqual(read.rows, [['1', hostile], ['2', null]], 'read through the Iceberg catalog name, values byte for byte');

  // dbt-athena's CTAS: an Iceberg one (properties Trino lacks dropped) and a Hive one (in the Hive catalog).
  await run(
    dbtCtas(
      `"awsdatacatalog"."${db}"."ctas_ice"`,
      ["table_type='iceberg'", 'is_external=false', `location='s3://${lake}/dbt/ctas_ice/'`, "partitioning=ARRAY['bucket(id, 4)']", "write_compression='zstd'", "format='parquet'", 'optimize_rewrite_delete_file_threshold=2'],
      `select "id", "name" from "awsdatacatalog"."${db}"."stage"`,
    ),
  );
  const ctasIce = await glueTable('ctas_ice');
  t.is(ctasIce.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG');
  t.true(ctasIce.Parameters?.['metadata_location']?.startsWith(`s3://${lake}/dbt/ctas_ice/metadata/`), ctasIce.Parameters?.['metadata_location']);
  const ctasIceDdl = await trinoDdl('ctas_ice');
  t.regex(ctasIceDdl, /compression_codec = 'ZSTD'/);
  t.regex(ctasIceDdl, /partitioning = ARRAY\['bucket\(id, 4\)'\]/);
  t.deepEqual((await run(`SELECT "name" FROM "${db}"."ctas_ice" WHERE "id" = '1'`)).rows, [[hostile]]);

  await run(
    dbtCtas(`"awsdatacatalog"."${db}"."ctas_hive"`, ["table_type='hive'", 'is_external=true', `external_location='s3://${lake}/dbt/ctas_hive/'`, "format='parquet'"], `select "id", cast(42 as bigint) as "n" from "awsdatacatalog"."${db}"."stage"`),
  );
  const ctasHive = await glueTable('ctas_hive');
  t.not(ctasHive.Parameters?.['table_type']?.toUpperCase(), 'ICEBERG');
  t.is(ctasHive.StorageDescriptor?.Location?.replace(/\/?$/, '/'), `s3://${lake}/dbt/ctas_hive/`);
  t.true(((await s3.send(new ListObjectsV2Command({ Bucket: lake, Prefix: 'dbt/ctas_hive/' }))).KeyCount ?? 0) > 0, 'its files where external_location says');
  t.deepEqual((await run(`SELECT "id", "n" FROM "awsdatacatalog"."${db}"."ctas_hive" ORDER BY "id"`)).rows, [['1', '42'], ['2', '42']]);
  t.deepEqual((await w.trinoQuery(`SELECT count(*) FROM "${db}"."ctas_hive"`, TRINO_HIVE_CATALOG)).rows, [[2]], 'a table of the Hive catalog');

  // DROP TABLE: gone from Glue; an external table's files stay (Athena's semantics).
  await run(dropTableSql(db, 'stage'));
  await run(dropTableSql(db, 'ice'));
  for (const name of ['stage', 'ice']) await t.throwsAsync(glueTable(name), { name: 'EntityNotFoundException' }, `${name} dropped`);
  t.is((await s3.send(new ListObjectsV2Command({ Bucket: lake, Prefix: 'stage/rows/' }))).KeyCount, 1, "the external table's files are not deleted");
  t.deepEqual((await w.trinoQuery(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${db}' ORDER BY 1`)).rows, [['buckets'], ['ctas_hive'], ['ctas_ice']]);

  t.deepEqual(front.failures, [], 'every statement ran on Trino');
  t.deepEqual(
    front.rewrites.map((r) => r.rules.filter((x) => x !== 'backquoted identifiers' && x !== 'Hive column types')),
    [
      ['Hive CREATE TABLE (Iceberg) → CREATE TABLE … WITH'],
      ['Hive CREATE TABLE (Iceberg) → CREATE TABLE … WITH'],
      ['ADD COLUMNS → one ADD COLUMN each'],
      ['external JSON table → Hive catalog'],
      ['CTAS properties'],
      ['Hive CTAS → Hive catalog', 'CTAS properties'],
      [],
      [],
    ],
    'each DDL statement went through its rule; nothing else was rewritten',
  );
});
