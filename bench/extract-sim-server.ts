/**
 * Simulator child of bench/extract.ts: runs the Salesforce simulator in its own process so the
 * extractor's RSS is measured alone.
 * Usage: node dist/bench/extract-sim-server.js <users> [seed]
 * Prints one JSON line {"url": ...} on stdout once listening; on SIGTERM/SIGINT prints
 * {"stats": {apiCalls, callsByKind}} (server-side counts) and exits.
 */
import { startSimulator } from '../sim/index.js';
import { untilStopSignal } from '../sim/serve.js';

const users = Number(process.argv[2] ?? 5000);
const seed = Number(process.argv[3] ?? 1);
if (!Number.isInteger(users) || users < 1) throw new Error(`bad user count ${process.argv[2]}`);

const t0 = performance.now();
const sim = await startSimulator({ users, seed, port: 0 });
process.stdout.write(
  JSON.stringify({ url: sim.url, users: sim.org.count(), startSeconds: (performance.now() - t0) / 1000, rssMb: process.memoryUsage().rss / 2 ** 20 }) + '\n',
);

await untilStopSignal();
const stats = { apiCalls: sim.stats.apiCalls, callsByKind: sim.stats.callsByKind };
process.stdout.write(JSON.stringify({ stats }) + '\n');
await sim.close();
process.exit(0);
