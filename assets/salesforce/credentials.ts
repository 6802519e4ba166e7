import fs from 'node:fs';
import path from 'node:path';
import type { AuthMethod, CredentialsSource } from '../config/pipeline-config.js';
import { LOGIN_URL_FIX, loginUrlProblem } from '../config/schema-kit.js';

/** Salesforce connected-app credentials. Never logged: see `describeCredentials`. */
export interface SalesforceCredentials {
  loginUrl?: string;
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  securityToken?: string;
  /** PEM private key for the JWT bearer flow. */
  privateKey?: string;
  refreshToken?: string;
}

const FIELDS: Record<keyof SalesforceCredentials, string> = {
  loginUrl: 'login_url',
  clientId: 'client_id',
  clientSecret: 'client_secret',
  username: 'username',
  password: 'password',
  securityToken: 'security_token',
  privateKey: 'private_key',
  refreshToken: 'refresh_token',
};

export class CredentialsError extends Error {
  override name = 'CredentialsError';
  /** Credentials that are missing or refused stay so on a retry; a login the server could not answer may not. */
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable?: boolean } = {}) {
    super(message);
    this.retryable = opts.retryable ?? false;
  }
}

/** What each OAuth flow needs from the credentials. */
export const REQUIRED_CREDENTIALS: Record<AuthMethod, (keyof SalesforceCredentials)[]> = {
  client_credentials: ['clientId', 'clientSecret'],
  password: ['clientId', 'username', 'password'],
  refresh_token: ['clientId', 'refreshToken'],
  jwt: ['clientId', 'username', 'privateKey'],
};

/**
 * Fails before any login when the flow lacks a credential, naming what to set where: the
 * environment variables, the keys of the file, Secret or Secrets Manager JSON.
 */
export function requireCredentials(method: AuthMethod, credentials: SalesforceCredentials, source: CredentialsSource): void {
  // Credentials are read in salesforce mode only: a real org, reached over https.
  const loginUrlIs = credentials.loginUrl === undefined ? null : loginUrlProblem(credentials.loginUrl, 'salesforce');
  if (loginUrlIs) throw new CredentialsError(`the login_url of the credentials (${whereIs('login_url', source)}) ${loginUrlIs}. Fix: ${LOGIN_URL_FIX}`);
  const missing = REQUIRED_CREDENTIALS[method].filter((k) => !credentials[k]);
  if (missing.length === 0) return;
  const names = missing.map((k) => FIELDS[k]);
  let fix: string;
  switch (source.source) {
    case 'env': {
      const vars = names.map((n) => envName(source.prefix, n));
      const keyFile = missing.includes('privateKey') ? ` (or ${source.prefix}PRIVATE_KEY_FILE naming the key's file)` : '';
      fix = `set the environment variable${vars.length > 1 ? 's' : ''} ${vars.join(', ')}${keyFile}`;
      break;
    }
    case 'file':
      fix = `add ${names.map((n) => `"${n}"`).join(', ')} to the JSON of the credentials file ${source.path}`;
      break;
    case 'k8s_secret':
      fix = `add the key${names.length > 1 ? 's' : ''} ${names.join(', ')} to the Secret mounted at ${source.dir}`;
      break;
    case 'aws_secrets_manager':
      fix = `add ${names.map((n) => `"${n}"`).join(', ')} to the JSON of the secret ${source.secretName}`;
      break;
    case 'simulator':
      fix = 'use salesforce.mode: simulator, whose credentials come from the simulator';
      break;
  }
  throw new CredentialsError(`the ${method} login flow (salesforce.auth.method) needs ${names.join(', ')}, which the credentials lack. Fix: ${fix}`);
}

const envName = (prefix: string, field: string): string => `${prefix}${field.toUpperCase()}`;

/** Where a credentials field is read from, e.g. "the environment variable SF_LOGIN_URL". */
function whereIs(field: string, source: CredentialsSource): string {
  switch (source.source) {
    case 'env':
      return `the environment variable ${envName(source.prefix, field)}`;
    case 'file':
      return `"${field}" in the credentials file ${source.path}`;
    case 'k8s_secret':
      return `the key ${field} of the Secret mounted at ${source.dir}`;
    case 'aws_secrets_manager':
      return `"${field}" in the secret ${source.secretName}`;
    case 'simulator':
      return 'the simulator';
  }
}

/** Loads credentials from env, a JSON file, a mounted Kubernetes Secret or AWS Secrets Manager. */
export async function loadCredentials(source: CredentialsSource, env: NodeJS.ProcessEnv = process.env): Promise<SalesforceCredentials> {
  switch (source.source) {
    case 'simulator':
      throw new CredentialsError('simulator credentials come from the simulator itself');
    case 'env': {
      const out: SalesforceCredentials = {};
      for (const [key, name] of Object.entries(FIELDS)) {
        const v = env[envName(source.prefix, name)];
        if (v) out[key as keyof SalesforceCredentials] = v;
      }
      const keyFile = env[`${source.prefix}PRIVATE_KEY_FILE`];
      if (keyFile && !out.privateKey) out.privateKey = readText(keyFile, `${source.prefix}PRIVATE_KEY_FILE`);
      return out;
    }
    case 'file':
      return fromJson(readText(source.path, 'the credentials file'), `the credentials file ${source.path}`);
    case 'k8s_secret': {
      const out: SalesforceCredentials = {};
      if (!fs.existsSync(source.dir)) throw new CredentialsError(`the Secret mount ${source.dir} does not exist; mount the Salesforce Secret there or change salesforce.auth.credentials.dir`);
      for (const [key, name] of Object.entries(FIELDS)) {
        const file = path.join(source.dir, name);
        if (fs.existsSync(file)) out[key as keyof SalesforceCredentials] = fs.readFileSync(file, 'utf8').trim();
      }
      return out;
    }
    case 'aws_secrets_manager': {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
      const { addAwsErrorHints } = await import('../aws/error-hints.js');
      const client = addAwsErrorHints(
        new SecretsManagerClient({
          ...(source.region ? { region: source.region } : {}),
          ...(source.endpoint ? { endpoint: source.endpoint } : {}),
        }),
        `Secrets Manager${source.region ? ` (region ${source.region})` : ''}`,
      );
      try {
        const out = await client.send(new GetSecretValueCommand({ SecretId: source.secretName }));
        if (!out.SecretString) throw new CredentialsError(`the secret ${source.secretName} has no SecretString; store the credentials as JSON text`);
        return fromJson(out.SecretString, `the secret ${source.secretName}`);
      } catch (err) {
        if (err instanceof CredentialsError) throw err;
        // AWS error messages name resources and actions, never the secret's value.
        const e = err as Error;
        throw new CredentialsError(`cannot read the secret ${source.secretName} from AWS Secrets Manager: ${e.name}: ${e.message}`);
      } finally {
        client.destroy();
      }
    }
  }
}

function readText(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CredentialsError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function fromJson(text: string, what: string): SalesforceCredentials {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    // Never echo the text: it holds secrets.
    throw new CredentialsError(`${what} is not valid JSON; store an object such as {"client_id": "...", "client_secret": "..."}`);
  }
  if (!obj || typeof obj !== 'object') throw new CredentialsError(`${what} must be a JSON object`);
  const src = obj as Record<string, unknown>;
  const out: SalesforceCredentials = {};
  for (const [key, name] of Object.entries(FIELDS)) {
    const v = src[name] ?? src[key];
    if (typeof v === 'string' && v.length > 0) out[key as keyof SalesforceCredentials] = v;
  }
  return out;
}

/** Which fields are present, for messages; values never appear. */
export function describeCredentials(c: SalesforceCredentials): string {
  return Object.keys(FIELDS)
    .filter((k) => c[k as keyof SalesforceCredentials])
    .join(', ');
}
