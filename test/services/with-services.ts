/**
 * Runs a command (the test runner) with a directory in which test processes share the services
 * that are too costly to start once per process (Trino: see trino/start.ts), and stops whatever
 * they started when the command ends. Usage: node dist/test/services/with-services.js CMD ARGS…
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { stopRecordedTrino } from './trino/start.js';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-services CMD [ARGS…]');
  process.exit(2);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sfpipe-test-services-'));
const cleanup = (): void => {
  stopRecordedTrino(dir);
  fs.rmSync(dir, { recursive: true, force: true });
};
const child = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, SFPIPE_TEST_SERVICES_DIR: dir, SFPIPE_TEST_SERVICES_OWNER: String(process.pid) } });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  cleanup();
  process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1));
});
