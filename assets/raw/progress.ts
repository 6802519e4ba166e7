import type { Logger } from '../../runtime/logging.js';
import type { StepStatus } from '../../runtime/run-reporter.js';

export interface Progress {
  update(done: number, total: number | null): void;
  stop(): void;
}

/**
 * The step's live line when a terminal shows the run (`status`); else a bar on a terminal;
 * otherwise a JSON progress line at most every `everyMs`.
 */
export async function createProgress(log: Logger, label: string, opts: { everyMs?: number; stream?: NodeJS.WriteStream; status?: StepStatus } = {}): Promise<Progress> {
  const status = opts.status;
  if (status?.live) {
    return {
      update: (done, total) => status.update(label, { done, total, unit: 'records' }),
      stop: () => undefined,
    };
  }
  const stream = opts.stream ?? process.stderr;
  if (stream.isTTY && !process.env.KUBERNETES_SERVICE_HOST) {
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} records | {eta_formatted} left`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total) {
        if (!started) {
          bar.start(total ?? done, done);
          started = true;
        }
        if (total !== null) bar.setTotal(Math.max(total, done));
        bar.update(done);
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const everyMs = opts.everyMs ?? 5000;
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < everyMs && done !== total) return;
      last = now;
      log.info(`${label}: ${done}${total !== null ? `/${total}` : ''} records`, { progress: { done, total } });
    },
    stop() {},
  };
}
