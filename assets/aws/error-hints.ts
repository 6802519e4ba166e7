/**
 * AWS SDK errors say what failed but not where nor what to do ("Could not load credentials from
 * any providers", "getaddrinfo ENOTFOUND …"). A middleware on our clients prefixes such errors
 * with what was being reached and appends the likely fix. Only the message changes: the error's
 * name and fields stay, so callers still recognise NoSuchKey, PreconditionFailed and the like.
 */

interface MiddlewareStackLike {
  add(middleware: (next: (args: any) => Promise<any>) => (args: any) => Promise<any>, options: { step: 'initialize'; name: string; override?: boolean }): void;
}

const HINTED = Symbol('sfpipe.awsErrorHint');

/** Adds the hint middleware to an SDK client; `what` names the target, e.g. "S3 event log s3://bucket/prefix/". */
export function addAwsErrorHints<C extends { middlewareStack: MiddlewareStackLike }>(client: C, what: string): C {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw withAwsErrorHint(err, what);
      }
    },
    { step: 'initialize', name: 'sfpipeAwsErrorHints', override: true },
  );
  return client;
}

/** The error with `what` and a fix in its message when it is one of the kinds a user can act on. */
export function withAwsErrorHint(err: unknown, what: string): unknown {
  if (!(err instanceof Error) || (err as { [HINTED]?: boolean })[HINTED]) return err;
  const fix = awsErrorFix(err);
  if (!fix) return err;
  err.message = `${what}: ${err.message.replace(/\.$/, '')}. Fix: ${fix}`;
  Object.defineProperty(err, HINTED, { value: true });
  return err;
}

const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const BAD_CREDENTIALS = /^(ExpiredToken|ExpiredTokenException|InvalidAccessKeyId|SignatureDoesNotMatch|UnrecognizedClientException|InvalidClientTokenId|InvalidSignatureException)$/;

function awsErrorFix(err: Error): string | null {
  const e = err as Error & { code?: string; cause?: { code?: string }; $metadata?: { httpStatusCode?: number } };
  if (e.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message)) {
    return "give the process AWS credentials: in a pod the ServiceAccount's IAM role (serviceAccount.irsaRoleArn), elsewhere AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY";
  }
  if (BAD_CREDENTIALS.test(e.name)) return 'the AWS credentials are invalid or expired: renew them, or check the IAM role the pod assumes';
  const code = e.code ?? e.cause?.code;
  if (code && NETWORK_CODES.has(code)) return 'check the region (and the endpoint, if one is set) and that this network reaches AWS';
  if (/AccessDenied|NotAuthorized|Forbidden/i.test(e.name) || e.$metadata?.httpStatusCode === 403) {
    return 'allow this call to the IAM role (or user) the process runs as';
  }
  return null;
}
