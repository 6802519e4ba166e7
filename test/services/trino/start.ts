/**
 * A real Trino (io.trino:trino-main from Maven Central, laid out by build.sh under .tools/) on
 * loopback, with two catalogs on one Glue catalog and one S3, both served by moto:
 *
 * - `awsdatacatalog`: the Iceberg connector (`iceberg.catalog.type=glue`), named like Athena's
 *   catalog so dbt-athena's three-part names resolve unchanged;
 * - `hive`: the Hive connector, for Athena's external JSON stage tables; each catalog redirects to
 *   the other for the tables of the other kind, so one name reaches either.
 *
 * Starting Trino costs about a minute of both cores, so one server serves every test process of a
 * `make test`: `sharedTrino()` starts it on first use (detached, recorded in
 * $SFPIPE_TEST_SERVICES_DIR, which test/services/with-services.ts creates and cleans up) and later
 * callers attach to it. Without that directory (a test file run on its own) the server belongs to
 * the calling process and stops when it exits.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, killProcessGroup, processAlive, repoRoot, sleep, withLock } from '../process-utils.js';
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, type MotoServer } from '../moto/start.js';

export const TRINO_VERSION = '483';
/** The Iceberg catalog's name: Athena's default data catalog, as dbt-athena names it. */
export const TRINO_ICEBERG_CATALOG = 'awsdatacatalog';
export const TRINO_HIVE_CATALOG = 'hive';
/** The moto bucket the catalogs' default warehouse directory is in (made when the service starts). */
export const TRINO_WAREHOUSE_BUCKET = 'trino-warehouse';

export interface TrinoService {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The moto behind the catalogs (Glue + S3). */
  motoEndpoint: string;
}

interface ServiceRecord extends TrinoService {
  pids: number[];
  log: string;
}

const START_TIMEOUT_MS = 10 * 60_000;

function javaHome(): string {
  return process.env['TRINO_JAVA_HOME'] ?? '/usr/lib/jvm/temurin-25-jdk-amd64';
}

/** Runs build.sh (idempotent, under a lock so parallel test processes build once). */
export async function ensureTrinoBuilt(): Promise<string> {
  const root = repoRoot();
  const home = path.join(root, '.tools', `trino-${TRINO_VERSION}`);
  fs.mkdirSync(path.join(root, '.tools'), { recursive: true });
  await withLock(path.join(root, '.tools', '.trino-build.lock'), () => {
    const r = spawnSync('bash', [path.join(root, 'test', 'services', 'trino', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`test/services/trino/build.sh failed (${r.status ?? r.signal}):\n${(r.stderr || r.stdout).slice(-4000)}`);
  });
  return home;
}

function catalogProperties(connector: 'iceberg' | 'hive', moto: string, glue: string): string {
  const aws = [
    `hive.metastore.glue.region=${MOTO_REGION}`,
    `hive.metastore.glue.endpoint-url=${glue}`,
    // Where schemas created without a location (dbt's) keep their tables, as a deployed catalog sets it.
    `hive.metastore.glue.default-warehouse-dir=s3://${TRINO_WAREHOUSE_BUCKET}/warehouse`,
    `hive.metastore.glue.aws-access-key=${MOTO_CREDENTIALS.accessKeyId}`,
    `hive.metastore.glue.aws-secret-key=${MOTO_CREDENTIALS.secretAccessKey}`,
    'fs.native-s3.enabled=true',
    `s3.endpoint=${moto}`,
    `s3.region=${MOTO_REGION}`,
    's3.path-style-access=true',
    `s3.aws-access-key=${MOTO_CREDENTIALS.accessKeyId}`,
    `s3.aws-secret-key=${MOTO_CREDENTIALS.secretAccessKey}`,
  ];
  if (connector === 'iceberg') {
    return ['connector.name=iceberg', 'iceberg.catalog.type=glue', `iceberg.hive-catalog-name=${TRINO_HIVE_CATALOG}`, ...aws, ''].join('\n');
  }
  return [
    'connector.name=hive',
    'hive.metastore=glue',
    `hive.iceberg-catalog-name=${TRINO_ICEBERG_CATALOG}`,
    // Athena's CREATE EXTERNAL TABLE over staged files, and dropping it without touching the files.
    'hive.non-managed-table-writes-enabled=true',
    // moto's Glue has no column statistics API.
    'hive.collect-column-statistics-on-write=false',
    // Athena keeps microseconds in Hive tables too (dbt-athena's unit-test fixtures cast to timestamp(6)).
    'hive.timestamp-precision=MICROSECONDS',
    ...aws,
    '',
  ].join('\n');
}

/** Writes etc/ for one server and returns the JVM's command line. */
function layout(dir: string, home: string, port: number, moto: string, glue: string): string[] {
  const etc = path.join(dir, 'etc');
  fs.mkdirSync(path.join(etc, 'catalog'), { recursive: true });
  fs.writeFileSync(
    path.join(etc, 'config.properties'),
    [
      'coordinator=true',
      'node-scheduler.include-coordinator=true',
      `http-server.http.port=${port}`,
      `discovery.uri=http://127.0.0.1:${port}`,
      // Without it the node announces the machine's non-loopback address.
      'node.internal-address=127.0.0.1',
      `plugin.dir=${path.join(home, 'plugin')}`,
      `catalog.config-dir=${path.join(etc, 'catalog')}`,
      'query.max-memory=1GB',
      'query.max-memory-per-node=512MB',
      'task.concurrency=2',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(etc, 'node.properties'), ['node.environment=sfpipe_test', `node.id=sfpipe-test-${port}`, `node.data-dir=${path.join(dir, 'data')}`, ''].join('\n'));
  fs.writeFileSync(path.join(etc, 'log.properties'), 'io.trino=WARN\n');
  fs.writeFileSync(path.join(etc, 'catalog', `${TRINO_ICEBERG_CATALOG}.properties`), catalogProperties('iceberg', moto, glue));
  fs.writeFileSync(path.join(etc, 'catalog', `${TRINO_HIVE_CATALOG}.properties`), catalogProperties('hive', moto, glue));
  return [
    '-Xmx2G',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:TieredStopAtLevel=1',
    '--add-modules=jdk.incubator.vector',
    '--enable-native-access=ALL-UNNAMED',
    '-Djdk.attach.allowAttachSelf=true',
    `-Dconfig=${path.join(etc, 'config.properties')}`,
    `-Dlog.levels-file=${path.join(etc, 'log.properties')}`,
    `-Dnode.environment=sfpipe_test`,
    '-cp',
    `${path.join(home, 'launcher')}:${path.join(home, 'lib', '*')}`,
    'TrinoServer',
    TRINO_VERSION,
  ];
}

/** Resolves once Trino reports it has started (GET /v1/info: starting=false). */
export async function waitForTrino(url: string, alive: () => string | null, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(`${url}/v1/info`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && (await res.json() as { starting?: boolean }).starting === false) return;
    } catch {
      // Not listening yet.
    }
    await sleep(500);
  }
  throw new Error(`Trino at ${url} did not finish starting within ${timeoutMs / 1000} s`);
}

async function createBucket(moto: string, bucket: string): Promise<void> {
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({ region: MOTO_REGION, endpoint: moto, credentials: MOTO_CREDENTIALS, forcePathStyle: true });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    s3.destroy();
  }
}

/** moto's Glue with column statistics answered (glue-statistics-gap.ts), as a process of its own. */
async function startGlueGap(dir: string, moto: string, detached: boolean, pidsFile: string): Promise<{ url: string; child: ChildProcess }> {
  const log = path.join(dir, 'glue-gap.log');
  const out = fs.openSync(log, 'a');
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'glue-statistics-gap.js');
  // It also outlives nothing: when the owner (the make test run, else this process) is gone, it
  // stops the services listed in pidsFile, so a killed test run leaves no Trino behind.
  const owner = process.env['SFPIPE_TEST_SERVICES_OWNER'] ?? String(process.pid);
  const child = spawn(process.execPath, [script, moto, '--owner', owner, '--pids', pidsFile], { stdio: ['ignore', out, out], detached });
  fs.closeSync(out);
  if (detached) child.unref();
  else process.once('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /listening (http:\/\/\S+)/.exec(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
    if (m) return { url: m[1]!, child };
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`glue-statistics-gap did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : ''}`);
}

interface Started extends ServiceRecord {
  child: ChildProcess;
  moto: MotoServer;
}

async function startServer(dir: string, detached: boolean): Promise<Started> {
  const home = await ensureTrinoBuilt();
  const moto = await startMoto({ detached, logFile: path.join(dir, 'moto.log') });
  await createBucket(moto.endpoint, TRINO_WAREHOUSE_BUCKET);
  const pidsFile = path.join(dir, 'pids');
  fs.writeFileSync(pidsFile, JSON.stringify([moto.pid]));
  const gap = await startGlueGap(dir, moto.endpoint, detached, pidsFile);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = layout(dir, home, port, moto.endpoint, gap.url);
  const log = path.join(dir, 'trino.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(path.join(javaHome(), 'bin', 'java'), args, { cwd: dir, stdio: ['ignore', out, out], detached });
  fs.closeSync(out);
  fs.writeFileSync(pidsFile, JSON.stringify([child.pid, moto.pid]));
  const tail = (): string => {
    try {
      return fs.readFileSync(log, 'utf8').slice(-6000);
    } catch {
      return '';
    }
  };
  try {
    await waitForTrino(url, () => (child.exitCode !== null || child.signalCode !== null ? `Trino exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail()}` : null));
  } catch (err) {
    child.kill('SIGKILL');
    gap.child.kill('SIGKILL');
    await moto.stop();
    throw err;
  }
  return { url, motoEndpoint: moto.endpoint, pids: [child.pid!, moto.pid, gap.child.pid!], log, child, moto };
}

let own: Promise<TrinoService> | undefined;

/**
 * The Trino of this `make test` (started on first use), or one of this process's own when run
 * outside it. Tests keep apart by their own schema and bucket names.
 */
export function sharedTrino(): Promise<TrinoService> {
  own ??= attachOrStart();
  return own;
}

async function attachOrStart(): Promise<TrinoService> {
  const servicesDir = process.env['SFPIPE_TEST_SERVICES_DIR'];
  if (!servicesDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-trino-'));
    const started = await startServer(dir, false);
    process.once('exit', () => {
      started.child.kill('SIGKILL');
      for (const pid of started.pids) if (processAlive(pid)) killProcessGroup(pid);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return { url: started.url, motoEndpoint: started.motoEndpoint };
  }
  const recordFile = path.join(servicesDir, 'trino.json');
  return withLock(path.join(servicesDir, 'trino.lock'), async () => {
    if (fs.existsSync(recordFile)) {
      const rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as ServiceRecord;
      if (rec.pids.every(processAlive)) return { url: rec.url, motoEndpoint: rec.motoEndpoint };
      throw new Error(`the shared Trino (${rec.url}) has stopped; its log: ${rec.log}`);
    }
    const dir = path.join(servicesDir, 'trino');
    fs.mkdirSync(dir, { recursive: true });
    const started = await startServer(dir, true);
    started.child.unref();
    const rec: ServiceRecord = { url: started.url, motoEndpoint: started.motoEndpoint, pids: started.pids, log: started.log };
    fs.writeFileSync(recordFile, JSON.stringify(rec));
    return { url: rec.url, motoEndpoint: rec.motoEndpoint };
  }, START_TIMEOUT_MS + 60_000);
}

/** Stops the services a `make test` started (with-services.ts). */
export function stopRecordedTrino(servicesDir: string): void {
  const recordFile = path.join(servicesDir, 'trino.json');
  if (!fs.existsSync(recordFile)) return;
  const rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as ServiceRecord;
  for (const pid of rec.pids) killProcessGroup(pid);
}

/**
 * Runs `fn` as the only holder of the dbt model schemas (sf_staging, sf_curated) on the shared
 * Trino: the models' schemas are fixed names, so test processes that run dbt on it take turns.
 * Each holder starts from no such schemas (dropped with everything in them through Glue).
 */
export async function withTrinoDbtSchemas<T>(fn: () => Promise<T>): Promise<T> {
  const trino = await sharedTrino();
  const lockDir = path.join(process.env['SFPIPE_TEST_SERVICES_DIR'] ?? os.tmpdir(), 'trino-dbt-schemas.lock');
  return withLock(lockDir, async () => {
    await dropGlueDatabases(trino.motoEndpoint, ['sf_staging', 'sf_curated']);
    return fn();
  }, 30 * 60_000);
}

/** Deletes Glue databases and every table in them (tables of any kind, Iceberg or Hive). */
export async function dropGlueDatabases(moto: string, databases: string[]): Promise<void> {
  const { GlueClient, GetTablesCommand, DeleteTableCommand, DeleteDatabaseCommand, EntityNotFoundException } = await import('@aws-sdk/client-glue');
  const glue = new GlueClient({ region: MOTO_REGION, endpoint: moto, credentials: MOTO_CREDENTIALS });
  try {
    for (const db of databases) {
      try {
        for (;;) {
          const tables = (await glue.send(new GetTablesCommand({ DatabaseName: db }))).TableList ?? [];
          if (tables.length === 0) break;
          for (const t of tables) await glue.send(new DeleteTableCommand({ DatabaseName: db, Name: t.Name! }));
        }
        await glue.send(new DeleteDatabaseCommand({ Name: db }));
      } catch (err) {
        if (!(err instanceof EntityNotFoundException)) throw err;
      }
    }
  } finally {
    glue.destroy();
  }
}
