import crypto from 'node:crypto';

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString('base64url');

/** The JWT bearer assertion Salesforce expects: RS256, iss = client id, sub = username, aud = login URL. */
export function jwtBearerAssertion(opts: { clientId: string; username: string; audience: string; privateKey: string; now?: Date }): string {
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(JSON.stringify({ iss: opts.clientId, sub: opts.username, aud: opts.audience, exp: iat + 180 }));
  const signature = crypto.sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), opts.privateKey);
  return `${header}.${claims}.${b64url(signature)}`;
}
