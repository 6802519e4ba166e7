/** An error in how assets are declared (duplicate key, unknown dep, cycle). */
export class DefinitionError extends Error {
  override name = 'DefinitionError';
}

/** A user-facing usage error: bad flag, bad selection. CLI exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A wait that gave up at its limit while what it waited for goes on. CLI exit code 124. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

/**
 * An error raised by an asset that says whether retrying can help.
 * Errors of other classes are treated as retryable unless `retryable: false` is set on them.
 */
export class StepError extends Error {
  override name = 'StepError';
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable;
  }
}

export function isRetryable(err: unknown): boolean {
  if (err && typeof err === 'object' && 'retryable' in err) {
    return Boolean((err as { retryable: unknown }).retryable);
  }
  if (err && typeof err === 'object' && (err as { name?: string }).name === 'AbortError') return false;
  return true;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
