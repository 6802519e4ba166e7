/**
 * AthenaQueryRunner against moto on loopback (start / poll / results / cancel over HTTP + SigV4),
 * and against a fake AthenaClient for what moto cannot do: moto never FAILS a query and returns
 * GetQueryResults in one page (no NextToken), so the FAILED path and multi-page pagination use a
 * fake `send`.
 */
import test from 'ava';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  ListQueryExecutionsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena';

import { AthenaQueryCancelledError, AthenaQueryError, AthenaQueryRunner, type StatementRecord } from '../../assets/warehouse/athena-query.js';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  queueAthenaResults,
  resetMoto,
  setMotoTransition,
  startMoto,
  type MotoServer,
} from '../services/moto/start.js';

let moto: MotoServer;
let client: AthenaClient;

test.before(async () => {
  moto = await startMoto();
  client = new AthenaClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS });
});

test.after.always(async () => {
  client?.destroy();
  await moto?.stop();
});

test.beforeEach(async () => {
  await resetMoto(moto.endpoint);
  await setMotoTransition(moto.endpoint, 'athena::execution', { progression: 'immediate' });
});

test.serial('start, poll with backoff through QUEUED/RUNNING, read a SELECT result (header row dropped)', async (t) => {
  await setMotoTransition(moto.endpoint, 'athena::execution', { progression: 'manual', times: 2 });
  const rows: (string | null)[][] = [['id', 'name']];
  for (let i = 0; i < 2500; i++) rows.push([`005${String(i).padStart(12, '0')}`, i % 7 === 0 ? null : `User ${i} 'q' \\ 名`]);
  await queueAthenaResults(moto.endpoint, [{ rows, columns: ['id', 'name'] }]);
  const seen: StatementRecord[] = [];
  const runner = new AthenaQueryRunner(client, {
    workGroup: 'primary',
    outputLocation: 's3://results-bucket/athena/',
    database: 'sf_raw',
    pollInitialMs: 5,
    pollMaxMs: 20,
    onStatement: (r) => seen.push(r),
  });
  const polls: string[] = [];
  const spy = client.send.bind(client);
  const counting = { send: (cmd: unknown) => { polls.push((cmd as object).constructor.name); return spy(cmd as never); } } as unknown as AthenaClient;
  const spied = new AthenaQueryRunner(counting, { workGroup: 'primary', outputLocation: 's3://results-bucket/athena/', pollInitialMs: 5, pollMaxMs: 20 });
  const result = await spied.run('SELECT id, name FROM sf_raw.sf_user', 'test select');
  t.is(result.rows.length, 2500);
  t.deepEqual(result.rows[0], ['005000000000000', null]);
  t.deepEqual(result.rows[1], ['005000000000001', "User 1 'q' \\ 名"]);
  t.deepEqual(result.columns, ['id', 'name']);
  t.true(polls.filter((p) => p === 'GetQueryExecutionCommand').length >= 3, `polled until SUCCEEDED: ${polls.join(',')}`);

  // The statement reached moto verbatim, in the workgroup, with the output location.
  const exec = (await client.send(new GetQueryExecutionCommand({ QueryExecutionId: result.queryExecutionId }))).QueryExecution!;
  t.is(exec.Query, 'SELECT id, name FROM sf_raw.sf_user');
  t.is(exec.WorkGroup, 'primary');
  t.is(exec.ResultConfiguration?.OutputLocation, `s3://results-bucket/athena/${result.queryExecutionId}.csv`);

  const ddl = await runner.run('CREATE DATABASE IF NOT EXISTS sf_raw', 'ddl');
  t.deepEqual(ddl.rows, []);
  t.deepEqual(seen.map((s) => s.purpose), ['ddl']);
  const ids = (await client.send(new ListQueryExecutionsCommand({ WorkGroup: 'primary' }))).QueryExecutionIds ?? [];
  t.true(ids.includes(ddl.queryExecutionId));
});

test.serial('abort stops the running query: StopQueryExecution reaches moto, the query is CANCELLED', async (t) => {
  await setMotoTransition(moto.endpoint, 'athena::execution', { progression: 'manual', times: 1000 });
  const seen: StatementRecord[] = [];
  const runner = new AthenaQueryRunner(client, { workGroup: 'primary', pollInitialMs: 10, pollMaxMs: 20, onStatement: (r) => seen.push(r) });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 150);
  const err = await t.throwsAsync(runner.run('MERGE INTO sf_raw.sf_user t\nUSING (SELECT 1) s ON (false)\nWHEN NOT MATCHED THEN INSERT VALUES (1)', 'merge raw', { signal: controller.signal }), {
    instanceOf: AthenaQueryCancelledError,
  });
  t.regex(err!.message, /merge raw: Athena query .* stopped because the run was cancelled \(MERGE INTO sf_raw\.sf_user t\)/);
  const id = seen[0]!.queryExecutionId;
  const exec = (await client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution!;
  t.is(exec.Status?.State, 'CANCELLED');
});

test.serial('a query that outlives timeoutMs is stopped and reported', async (t) => {
  await setMotoTransition(moto.endpoint, 'athena::execution', { progression: 'manual', times: 1000 });
  const runner = new AthenaQueryRunner(client, { workGroup: 'primary', pollInitialMs: 5, pollMaxMs: 10, timeoutMs: 100 });
  const err = await t.throwsAsync(runner.run('SELECT 1', 'slow'), { instanceOf: AthenaQueryError });
  t.regex(err!.message, /still (QUEUED|RUNNING) after 100 ms; stopped/);
  const exec = (await client.send(new GetQueryExecutionCommand({ QueryExecutionId: err!.queryExecutionId! }))).QueryExecution!;
  t.is(exec.Status?.State, 'CANCELLED');
});

/** A fake client: moto cannot fail a query nor page results. */
function fakeClient(behaviour: { state: 'FAILED' | 'SUCCEEDED' | 'CANCELLED'; reason?: string; pages?: string[][][] }) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (cmd: { input: Record<string, unknown> }) => {
      calls.push({ name: cmd.constructor.name, input: cmd.input });
      if (cmd instanceof StartQueryExecutionCommand) return { QueryExecutionId: 'q-1' };
      if (cmd instanceof GetQueryExecutionCommand) {
        const n = calls.filter((c) => c.name === 'GetQueryExecutionCommand').length;
        if (n < 3) return { QueryExecution: { Status: { State: n === 1 ? 'QUEUED' : 'RUNNING' } } };
        return { QueryExecution: { Status: { State: behaviour.state, ...(behaviour.reason ? { StateChangeReason: behaviour.reason } : {}) } } };
      }
      if (cmd instanceof GetQueryResultsCommand) {
        const pages = behaviour.pages ?? [[]];
        const token = cmd.input['NextToken'] as string | undefined;
        const i = token ? Number(token) : 0;
        return {
          ResultSet: { Rows: pages[i]!.map((r) => ({ Data: r.map((v) => ({ VarCharValue: v })) })), ResultSetMetadata: { ColumnInfo: [{ Name: 'n' }] } },
          ...(i + 1 < pages.length ? { NextToken: String(i + 1) } : {}),
        };
      }
      if (cmd instanceof StopQueryExecutionCommand) return {};
      throw new Error(`unexpected ${cmd.constructor.name}`);
    },
  };
  return { client: client as unknown as AthenaClient, calls };
}

test('FAILED surfaces StateChangeReason and the statement first line (fake client: moto cannot fail queries)', async (t) => {
  const { client: fake } = fakeClient({ state: 'FAILED', reason: "COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved" });
  const runner = new AthenaQueryRunner(fake, { workGroup: 'wg', pollInitialMs: 1 });
  const err = await t.throwsAsync(runner.run("SELECT nope\nFROM sf_raw.sf_user\nWHERE name = 'secret value'", 'read watermark'), { instanceOf: AthenaQueryError });
  t.is(
    err!.message,
    "read watermark: Athena query q-1 FAILED: COLUMN_NOT_FOUND: line 3:8: Column 'nope' cannot be resolved (statement: SELECT nope)",
  );
  t.is(err!.state, 'FAILED');
  t.false(err!.message.includes('secret value'));
  const cancelled = fakeClient({ state: 'CANCELLED', reason: 'Query cancelled by user' });
  const err2 = await t.throwsAsync(new AthenaQueryRunner(cancelled.client, { workGroup: 'wg', pollInitialMs: 1 }).run('DROP TABLE x', 'drop'), {
    instanceOf: AthenaQueryCancelledError,
  });
  t.regex(err2!.message, /CANCELLED: Query cancelled by user \(statement: DROP TABLE x\)/);
});

test('GetQueryResults pages are followed with NextToken; only the first page has the header (fake client)', async (t) => {
  const { client: fake, calls } = fakeClient({
    state: 'SUCCEEDED',
    pages: [[['n'], ['1'], ['2']], [['3'], ['4']], [['5']]],
  });
  const runner = new AthenaQueryRunner(fake, { workGroup: 'wg', pollInitialMs: 1, pageSize: 2 });
  const result = await runner.run('SELECT n FROM t', 'paged');
  t.deepEqual(result.rows, [['1'], ['2'], ['3'], ['4'], ['5']]);
  const pages = calls.filter((c) => c.name === 'GetQueryResultsCommand');
  t.deepEqual(pages.map((p) => p.input['NextToken'] ?? null), [null, '1', '2']);
  t.true(pages.every((p) => p.input['MaxResults'] === 2));
});
