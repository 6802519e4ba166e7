/** A logger whose JSON lines a test can read. */
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';

import { createLogger, type Logger } from '../../runtime/logging.js';

/** Lets winston's stream writes (two turns of its pipeline) reach their stream. */
export async function settleLogs(): Promise<void> {
  await tick();
  await tick();
}

/** `lines`: the JSON lines written so far; `flush` lets winston's stream writes settle first. */
export function captureLogger(level = 'debug'): { log: Logger; lines: string[]; flush: () => Promise<void> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
      cb();
    },
  });
  return {
    log: createLogger({ stream, format: 'json', level }),
    lines,
    flush: settleLogs,
  };
}
