/**
 * Run as a process: `node glue-statistics-gap.js MOTO_ENDPOINT` prints `listening <url>` and
 * serves moto's API with the one gap Trino's Hive connector trips over filled in. moto has no Glue
 * column statistics operations (it answers 500), while Trino's Glue metastore updates column
 * statistics whenever it creates a Hive table (Athena's external stage tables). Those calls are
 * answered as an account without statistics would be answered; everything else goes to moto
 * unchanged.
 *
 * It also watches the process that owns the test services (`--owner PID`): once that is gone —
 * a test run killed before it could stop them — it kills the processes listed in `--pids FILE`
 * (Trino and moto) and exits, so no Trino outlives its test run.
 */
import fs from 'node:fs';
import http from 'node:http';

import { forwardRequest } from '../http-forward.js';
import { killProcessGroup, processAlive } from '../process-utils.js';

const EMPTY_ANSWERS: Readonly<Record<string, unknown>> = {
  'AWSGlue.UpdateColumnStatisticsForTable': { Errors: [] },
  'AWSGlue.UpdateColumnStatisticsForPartition': { Errors: [] },
  'AWSGlue.DeleteColumnStatisticsForTable': {},
  'AWSGlue.DeleteColumnStatisticsForPartition': {},
  'AWSGlue.GetColumnStatisticsForTable': { ColumnStatisticsList: [], Errors: [] },
  'AWSGlue.GetColumnStatisticsForPartition': { ColumnStatisticsList: [], Errors: [] },
};

export function startGlueStatisticsGap(motoEndpoint: string): Promise<{ url: string; server: http.Server }> {
  const target = new URL(motoEndpoint);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = EMPTY_ANSWERS[String(req.headers['x-amz-target'] ?? '')];
      if (answer !== undefined) {
        const body = JSON.stringify(answer);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      forwardRequest(target, req, Buffer.concat(chunks), res);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${addr.port}`, server });
    }),
  );
}

/** When `owner` is gone, kills the processes (and their groups) listed in `pidsFile`, then exits. */
function watchOwner(owner: number, pidsFile: string): void {
  setInterval(() => {
    if (processAlive(owner)) return;
    let pids: number[] = [];
    try {
      pids = JSON.parse(fs.readFileSync(pidsFile, 'utf8')) as number[];
    } catch {
      // Nothing recorded yet.
    }
    for (const pid of pids) killProcessGroup(pid);
    process.exit(0);
  }, 1000);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const [moto, ...rest] = process.argv.slice(2);
  if (!moto) {
    console.error('usage: glue-statistics-gap.js MOTO_ENDPOINT [--owner PID --pids FILE]');
    process.exit(2);
  }
  const { url } = await startGlueStatisticsGap(moto);
  const owner = rest.indexOf('--owner');
  const pids = rest.indexOf('--pids');
  if (owner >= 0 && pids >= 0) watchOwner(Number(rest[owner + 1]), rest[pids + 1]!);
  console.log(`listening ${url}`);
}
