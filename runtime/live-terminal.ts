import type { AssetKey } from './keys.js';
import type { CheckNotice, ProgressCount, RunReporter, StepStatus } from './run-reporter.js';
import type { StepResult } from './step.js';

const ESC = '\u001b[';

export interface Paint {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `${ESC}${open}m${s}${ESC}${close}m`;
export const COLORS: Paint = { green: sgr(32, 39), red: sgr(31, 39), yellow: sgr(33, 39), cyan: sgr(36, 39), dim: sgr(2, 22) };
const PLAIN: Paint = { green: (s) => s, red: (s) => s, yellow: (s) => s, cyan: (s) => s, dim: (s) => s };

/** Colour on a terminal unless NO_COLOR is set (https://no-color.org). */
export function paintFor(stream: NodeJS.WritableStream): Paint {
  return (stream as NodeJS.WriteStream).isTTY && !process.env.NO_COLOR ? COLORS : PLAIN;
}

interface LiveLine {
  text: string;
  count: ProgressCount | undefined;
  since: number;
}

/**
 * A terminal screen with a block of live lines at its bottom, one per key, redrawn in place
 * (cursor up, erase down) as they change; permanent lines are printed above the block. Live lines
 * are cut to the terminal's width so that none wraps, which would break the redraw.
 */
export class LiveTerminal {
  readonly paint: Paint;
  readonly #stream: NodeJS.WriteStream;
  readonly #lines = new Map<string, LiveLine>();
  #drawn = 0;
  #cursorHidden = false;
  #pending: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  readonly #now: () => number;
  readonly #onExit = () => {
    if (this.#cursorHidden) this.#stream.write(`${ESC}?25h`);
  };

  constructor(stream: NodeJS.WriteStream, opts: { now?: () => number } = {}) {
    this.#stream = stream;
    this.paint = paintFor(stream);
    this.#now = opts.now ?? Date.now;
    process.once('exit', this.#onExit);
  }

  /** Text above the live block (a trailing newline is added). */
  print(text: string): void {
    this.#write(this.#erase() + text.replace(/\n?$/, '\n') + this.#render());
  }

  /** Sets the live line of `key` (drawn at once), or replaces its text (redrawn at most every 100 ms). */
  setLine(key: string, text: string, count?: ProgressCount): void {
    const line = this.#lines.get(key);
    if (line) {
      Object.assign(line, { text, count });
    } else {
      this.#lines.set(key, { text, count, since: this.#now() });
      this.#write(this.#erase() + this.#render());
    }
    this.#schedule();
  }

  hasLine(key: string): boolean {
    return this.#lines.has(key);
  }

  /** Removes the live line of `key`, with `text` printed above the block in the same redraw. */
  removeLine(key: string, text?: string): void {
    this.#lines.delete(key);
    const out = this.#erase() + (text === undefined ? '' : text.replace(/\n?$/, '\n')) + this.#render();
    this.#write(out);
  }

  /** Erases the live block and gives the cursor back; later prints go straight to the stream. */
  close(): void {
    this.#lines.clear();
    this.#write(this.#erase());
    if (this.#cursorHidden) this.#write(`${ESC}?25h`);
    this.#cursorHidden = false;
    this.#stopTimers();
    process.off('exit', this.#onExit);
  }

  #schedule(): void {
    this.#pending ??= setTimeout(() => {
      this.#pending = null;
      this.#write(this.#erase() + this.#render());
    }, 100).unref();
    // Elapsed times move on even when a step says nothing.
    this.#ticker ??= setInterval(() => this.#write(this.#erase() + this.#render()), 1000).unref();
  }

  #stopTimers(): void {
    if (this.#pending) clearTimeout(this.#pending);
    if (this.#ticker) clearInterval(this.#ticker);
    this.#pending = null;
    this.#ticker = null;
  }

  #erase(): string {
    const n = this.#drawn;
    this.#drawn = 0;
    return n > 0 ? `${ESC}${n}A${ESC}J` : '';
  }

  #render(): string {
    if (this.#lines.size === 0) {
      this.#stopTimers();
      return '';
    }
    const width = Math.max(20, (this.#stream.columns || 80) - 1);
    let out = this.#cursorHidden ? '' : `${ESC}?25l`;
    this.#cursorHidden = true;
    for (const [key, line] of this.#lines) {
      const elapsed = Math.floor((this.#now() - line.since) / 1000);
      const tail = elapsed >= 1 ? `  ${formatSeconds(elapsed)}` : '';
      const bar = line.count ? ` ${progressText(line.count)}` : '';
      const body = `${key}  ${line.text}${bar}`;
      // The whole line fits in `width`; the elapsed time stays visible, the text is cut.
      const room = width - 2 - tail.length;
      const cut = body.length > room ? body.slice(0, Math.max(0, room - 1)) + '…' : body;
      out += `${this.paint.cyan('▸')} ${cut}${tail ? this.paint.dim(tail) : ''}\n`;
      this.#drawn++;
    }
    return out;
  }

  #write(s: string): void {
    if (s) this.#stream.write(s);
  }
}

function progressText(c: ProgressCount): string {
  const unit = c.unit ? ` ${c.unit}` : '';
  if (c.total === null || c.total <= 0) return `${c.done}${unit}`;
  const size = 20;
  const filled = Math.min(size, Math.round((c.done / c.total) * size));
  return `[${'█'.repeat(filled)}${'░'.repeat(size - filled)}] ${c.done}/${c.total}${unit}`;
}

function formatSeconds(s: number): string {
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** A step's duration, e.g. "0.4s", "12s", "3m05s". */
export function formatDuration(startedAt: string | null, endedAt: string | null): string {
  if (!startedAt || !endedAt) return '';
  const ms = Date.parse(endedAt) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return '';
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : formatSeconds(Math.round(ms / 1000));
}

/** Continuation lines of a multi-line message, indented under its first line. */
const indent = (text: string, by: string) => text.replace(/\r?\n/g, `\n${by}`);

/**
 * The run on a live terminal: a live line per running asset, then its outcome line (with its
 * summary and the checks that failed beneath it) in place of the live line.
 */
export class TerminalRunReporter implements RunReporter {
  readonly live = true;
  readonly #term: LiveTerminal;
  readonly #notices = new Map<AssetKey, CheckNotice[]>();
  readonly #showWarnings: boolean;

  /** `showWarnings`: list failed WARN checks (false when the log level is error). */
  constructor(term: LiveTerminal, opts: { showWarnings?: boolean } = {}) {
    this.#term = term;
    this.#showWarnings = opts.showWarnings ?? true;
  }

  stepStarted(key: AssetKey): void {
    this.#term.setLine(key, 'running');
  }

  status(key: AssetKey): StepStatus {
    return {
      live: true,
      update: (text, count) => {
        if (this.#term.hasLine(key)) this.#term.setLine(key, text, count);
      },
    };
  }

  checkFailed(key: AssetKey, notice: CheckNotice): void {
    const list = this.#notices.get(key) ?? [];
    list.push(notice);
    this.#notices.set(key, list);
  }

  stepFinished(step: StepResult): void {
    this.#term.removeLine(step.key, outcomeLines(step, this.#notices.get(step.key) ?? [], this.#term.paint, this.#showWarnings));
    this.#notices.delete(step.key);
  }
}

/** One line for the asset's outcome, then one per failed check. */
export function outcomeLines(step: StepResult, notices: CheckNotice[], p: Paint, showWarnings = true): string {
  const took = formatDuration(step.startedAt, step.endedAt);
  const tail = took ? `  ${p.dim(took)}` : '';
  let line: string;
  switch (step.status) {
    case 'SUCCESS': {
      const summary = typeof step.metadata.summary === 'string' && step.metadata.summary ? step.metadata.summary : 'materialized';
      // Materialized, but a failed blocking check stops what depends on it: not a success to the eye.
      line = step.blocked ? `${p.red('✗')} ${step.key}  ${summary}, ${p.red('blocked by a failed check')}${tail}` : `${p.green('✓')} ${step.key}  ${summary}${tail}`;
      break;
    }
    case 'FAILED': {
      const why = step.attempts > 1 ? `failed after ${step.attempts} attempts` : 'failed';
      line = `${p.red('✗')} ${step.key}  ${p.red(why)}: ${indent(step.error ?? 'no reason given', '    ')}${tail}`;
      break;
    }
    case 'SKIPPED':
      line = `${p.yellow('-')} ${step.key}  skipped: ${step.reason ?? ''}`;
      break;
    case 'CANCELED':
      line = `${p.yellow('⊘')} ${step.key}  canceled${step.reason ? `: ${step.reason}` : ''}`;
      break;
  }
  const lines = [line];
  // Errors first: what failed the run, then what only warns.
  const ordered = [...notices.filter((n) => n.severity === 'ERROR'), ...notices.filter((n) => n.severity !== 'ERROR')];
  for (const n of ordered) {
    if (n.severity === 'WARN' && !showWarnings) continue;
    const mark = n.severity === 'ERROR' ? p.red('✗') : p.yellow('⚠');
    const how = n.severity === 'ERROR' && n.blocking ? 'ERROR, blocks downstream' : n.severity;
    lines.push(`    ${mark} ${n.label}${n.summary ? `: ${indent(n.summary, '      ')}` : ''} (${how})`);
  }
  return lines.join('\n');
}
