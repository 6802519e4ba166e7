export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** A complete body, or… */
  body?: string;
  /** …a streamed one: `write` resolves when the socket can take more. */
  stream?: (write: (chunk: string) => Promise<void>) => Promise<void>;
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'Content-Type': 'application/json;charset=UTF-8', ...headers }, body: JSON.stringify(value) };
}

/** Salesforce REST errors are a JSON array of {message, errorCode}. */
export function sfError(status: number, errorCode: string, message: string, headers: Record<string, string> = {}): Reply {
  return json(status, [{ message, errorCode }], headers);
}

export const NOT_FOUND = (): Reply => sfError(404, 'NOT_FOUND', 'The requested resource does not exist');
export const INVALID_SESSION = (): Reply => sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
export const REQUEST_LIMIT = (): Reply => sfError(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
export const QUERY_TIMEOUT = (): Reply =>
  sfError(400, 'QUERY_TIMEOUT', 'Your query request was running for too long.');

export function httpFault(status: number): Reply {
  const [code, msg] =
    status === 429 ? ['REQUEST_LIMIT_EXCEEDED', 'ConcurrentPerOrgLongTxn Limit exceeded.']
      : status === 503 ? ['SERVER_UNAVAILABLE', 'Server temporarily unavailable, please try again later.']
        : ['UNKNOWN_EXCEPTION', 'An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-1234 (-123456789)'];
  return sfError(status, code, msg, status === 429 || status === 503 ? { 'Retry-After': '1' } : {});
}
