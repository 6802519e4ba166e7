import winston from 'winston';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'text' | 'auto';

export interface LoggerOptions {
  format?: LogFormat;
  level?: string;
  /** Where log lines go; stderr by default so stdout stays for command output. */
  stream?: NodeJS.WritableStream;
  /** Fields on every line (e.g. runId). */
  defaultMeta?: Record<string, unknown>;
}

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

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
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
