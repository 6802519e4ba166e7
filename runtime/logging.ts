import { Writable } from 'node:stream';
import winston from 'winston';
import type { LiveTerminal } from './live-terminal.js';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'text' | 'auto';

export interface LoggerOptions {
  format?: LogFormat;
  level?: string;
  /** Where log lines go; stderr by default so stdout stays for command output. */
  stream?: NodeJS.WritableStream;
  /** Fields on every line (e.g. runId). */
  defaultMeta?: Record<string, unknown>;
  /**
   * A live terminal showing a run (see runtime/live-terminal.ts): it gets only warnings and errors,
   * as short lines printed above its live block, and none that are marked `summarized`. Info and
   * debug lines, and every field, are for the other formats (`--log-level debug` on a terminal).
   */
  terminal?: LiveTerminal;
}

/**
 * Marks a log line whose content a live terminal already shows in another form (a step's outcome
 * line, a failed check under it, the run's summary): a live terminal leaves it out, every other
 * format keeps it unchanged (a symbol key is never serialized). Spread it into the line's meta:
 * `log.warn(message, { ...summarized })`.
 */
export const SUMMARIZED: unique symbol = Symbol.for('sfpipe.log.summarized');
export const summarized: { readonly [SUMMARIZED]: true } = Object.freeze({ [SUMMARIZED]: true as const });

/** JSON lines in a cluster or when stderr is not a TTY; readable lines on a terminal. */
export function resolveLogFormat(format: LogFormat = 'auto', stream: NodeJS.WritableStream = process.stderr): 'json' | 'text' {
  if (format !== 'auto') return format;
  if (process.env.KUBERNETES_SERVICE_HOST) return 'json';
  return (stream as NodeJS.WriteStream).isTTY ? 'text' : 'json';
}

const textLine = winston.format.printf((info) => {
  const { level, message, timestamp, runId, assetKey, ...rest } = info as Record<string, unknown>;
  const scope = [runId ? `run=${String(runId).slice(0, 8)}` : '', assetKey ? `[${String(assetKey)}]` : '']
    .filter(Boolean)
    .join(' ');
  const extra = Object.keys(rest).filter((k) => typeof k === 'string' && k !== 'splat');
  const tail = extra.length ? ' ' + extra.map((k) => `${k}=${formatValue(rest[k])}`).join(' ') : '';
  return `${String(timestamp)} ${level} ${scope ? scope + ' ' : ''}${String(message)}${tail}`;
});

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** A live terminal's line: the asset key (if any) and the message; the fields stay in the full logs. */
function terminalFormat(terminal: LiveTerminal) {
  const p = terminal.paint;
  return winston.format.combine(
    winston.format((info) => ((info as Record<symbol, unknown>)[SUMMARIZED] ? false : info))(),
    winston.format.errors({ stack: false }),
    winston.format.printf((info) => {
      const mark = info.level === 'error' ? p.red('✗') : p.yellow('⚠');
      const key = typeof info.assetKey === 'string' ? `${info.assetKey}  ` : '';
      return `${mark} ${key}${String(info.message)}`;
    }),
  );
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  if (options.terminal) {
    const terminal = options.terminal;
    const printer = new Writable({
      write(chunk: Buffer, _enc, cb) {
        terminal.print(chunk.toString('utf8'));
        cb();
      },
    });
    return winston.createLogger({
      level: options.level ?? process.env.SFPIPE_LOG_LEVEL ?? 'info',
      defaultMeta: options.defaultMeta ?? {},
      transports: [new winston.transports.Stream({ stream: printer, level: 'warn', format: terminalFormat(terminal) })],
    });
  }
  const format = resolveLogFormat(options.format, stream);
  const level = options.level ?? process.env.SFPIPE_LOG_LEVEL ?? 'info';
  return winston.createLogger({
    level,
    defaultMeta: options.defaultMeta ?? {},
    format:
      format === 'json'
        ? winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json())
        : winston.format.combine(
            winston.format.timestamp({ format: 'HH:mm:ss' }),
            winston.format.errors({ stack: false }),
            // Colour codes only on a terminal, never into a pipe or a file.
            ...((stream as NodeJS.WriteStream).isTTY ? [winston.format.colorize()] : []),
            textLine,
          ),
    transports: [new winston.transports.Stream({ stream })],
  });
}

/** A logger that drops everything (tests, quiet library use). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
