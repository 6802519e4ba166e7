import { createHmac, createPublicKey, randomBytes, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { json, type Reply } from './reply.js';

export interface Credentials {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
  securityToken: string;
  /** The connected app's certificate (or public key): JWT bearer assertions must be signed by its key. */
  jwtPublicKey?: KeyObject;
}

/** A PEM X.509 certificate (what Salesforce takes for a connected app) or a PEM public key. */
export function jwtVerificationKey(pem: string): KeyObject {
  return pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
}

export interface Identity {
  orgId: string;
  userId: string;
}

interface Session {
  expiresAt: number;
  valid: boolean;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Access and refresh tokens; expiry runs on the wall clock, not the simulated one. */
export class TokenStore {
  private sessions = new Map<string, Session>();
  private refreshTokens = new Set<string>();
  current: string | undefined;

  constructor(private readonly ttlMs: number, private readonly orgId: string) {}

  issue(): string {
    const token = `${this.orgId.slice(0, 15)}!${randomBytes(40).toString('base64url')}`;
    this.sessions.set(token, { expiresAt: Date.now() + this.ttlMs, valid: true });
    this.current = token;
    return token;
  }

  issueRefresh(): string {
    const t = `5Aep${randomBytes(32).toString('base64url')}`;
    this.refreshTokens.add(t);
    return t;
  }

  isRefreshToken(t: string): boolean {
    return this.refreshTokens.has(t);
  }

  check(token: string): boolean {
    const s = this.sessions.get(token);
    if (!s || !s.valid) return false;
    if (Date.now() >= s.expiresAt) {
      this.sessions.delete(token);
      return false;
    }
    return true;
  }

  invalidate(token: string): void {
    const s = this.sessions.get(token);
    if (s) s.valid = false;
  }

  invalidateAll(): void {
    for (const s of this.sessions.values()) s.valid = false;
  }
}

function oauthError(error: string, description: string, status = 400): Reply {
  return json(status, { error, error_description: description });
}

function decodeJwtPart(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * POST /services/oauth2/token. Supports password, client_credentials,
 * refresh_token and JWT bearer grants. A JWT assertion must be RS256-signed by the
 * connected app's certificate key, with iss = client_id, sub = username,
 * aud = this login URL and an unexpired exp.
 */
export function handleToken(
  params: URLSearchParams,
  authorization: string | undefined,
  creds: Credentials,
  tokens: TokenStore,
  ident: Identity,
  baseUrl: string,
): Reply {
  let clientId = params.get('client_id') ?? undefined;
  let clientSecret = params.get('client_secret') ?? undefined;
  if (authorization?.startsWith('Basic ')) {
    const [id, secret] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
    clientId ??= id;
    clientSecret ??= secret;
  }
  const grant = params.get('grant_type');
  if (!grant) return oauthError('invalid_request', 'grant type is missing');
  const checkClient = (secretRequired: boolean): Reply | undefined => {
    if (clientId !== creds.clientId) return oauthError('invalid_client_id', 'client identifier invalid');
    if ((secretRequired || clientSecret !== undefined) && clientSecret !== creds.clientSecret) {
      return oauthError('invalid_client', 'invalid client credentials');
    }
    return undefined;
  };

  let withRefresh = false;
  switch (grant) {
    case 'password': {
      const bad = checkClient(true);
      if (bad) return bad;
      const pw = params.get('password');
      if (params.get('username') !== creds.username || (pw !== creds.password + creds.securityToken && !(creds.securityToken === '' && pw === creds.password))) {
        return oauthError('invalid_grant', 'authentication failure');
      }
      withRefresh = true;
      break;
    }
    case 'client_credentials': {
      const bad = checkClient(true);
      if (bad) return bad;
      break;
    }
    case 'refresh_token': {
      if (clientId !== creds.clientId) return oauthError('invalid_client_id', 'client identifier invalid');
      if (clientSecret !== undefined && clientSecret !== creds.clientSecret) return oauthError('invalid_client', 'invalid client credentials');
      if (!tokens.isRefreshToken(params.get('refresh_token') ?? '')) return oauthError('invalid_grant', 'expired access/refresh token');
      break;
    }
    case JWT_BEARER: {
      const parts = (params.get('assertion') ?? '').split('.');
      const header = parts.length === 3 ? decodeJwtPart(parts[0]!) : undefined;
      const claims = parts.length === 3 ? decodeJwtPart(parts[1]!) : undefined;
      if (!header || !claims || typeof header.alg !== 'string' || !parts[2]) {
        return oauthError('invalid_grant', 'invalid assertion');
      }
      if (header.alg !== 'RS256') return oauthError('invalid_grant', 'invalid assertion: the signing algorithm must be RS256');
      if (!creds.jwtPublicKey) return oauthError('invalid_client', 'the connected app has no certificate for the JWT bearer flow');
      if (!verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), creds.jwtPublicKey, Buffer.from(parts[2], 'base64url'))) {
        return oauthError('invalid_grant', 'invalid assertion: the signature does not match the connected app certificate');
      }
      if (claims.aud !== baseUrl) return oauthError('invalid_grant', 'audience is invalid');
      if (claims.iss !== creds.clientId) return oauthError('invalid_client_id', 'client identifier invalid');
      if (claims.sub !== creds.username) return oauthError('invalid_grant', 'user hasn\'t approved this consumer');
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return oauthError('invalid_grant', 'expired authorization code');
      break;
    }
    default:
      return oauthError('unsupported_grant_type', 'grant type not supported');
  }

  const id = `${baseUrl}/id/${ident.orgId}/${ident.userId}`;
  const issuedAt = String(Date.now());
  const body: Record<string, string> = {
    access_token: tokens.issue(),
    instance_url: baseUrl,
    id,
    token_type: 'Bearer',
    issued_at: issuedAt,
    signature: createHmac('sha256', creds.clientSecret).update(id + issuedAt).digest('base64'),
    scope: 'api',
  };
  if (withRefresh) body.refresh_token = tokens.issueRefresh();
  return json(200, body, { 'Cache-Control': 'no-cache,must-revalidate,max-age=0,no-store,private' });
}
