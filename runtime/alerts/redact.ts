/**
 * Secret scrubbing for log lines and error messages.
 *
 * Webhook URLs are credentials (Slack puts the secret in the path, generic
 * webhooks often carry a token in the query), so every text that might have
 * seen one goes through `redact` before it reaches a logger.
 */

export const REDACTED = '[REDACTED]';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Replaces every occurrence of every secret (longest first) with [REDACTED]. Empty/short secrets are ignored. */
export function redact(text: string, secrets: Iterable<string | null | undefined>): string {
  const list = [...new Set([...secrets].filter((s): s is string => typeof s === 'string' && s.length >= 3))].sort(
    (a, b) => b.length - a.length,
  );
  let out = String(text);
  for (const s of list) {
    if (!out.includes(s)) continue;
    out = out.replace(new RegExp(escapeRegExp(s), 'g'), REDACTED);
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Every form in which the secret parts of a URL may show up in an error
 * message: the URL as given and normalized, its path+query, query string,
 * query values, long path segments, fragment and user:password (and, with
 * includeHost, the host) — raw,
 * percent-decoded and percent-encoded.
 */
export function urlSecrets(url: string, options: { includeHost?: boolean } = {}): string[] {
  const out: string[] = [url];
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not parseable: the whole string, plus anything that looks like a path or query.
    const cut = url.search(/[/?#]/);
    if (cut > 0) out.push(url.slice(cut));
    return expand(out);
  }
  out.push(u.href);
  if (options.includeHost) out.push(u.host, u.hostname);
  if (u.pathname && u.pathname !== '/') out.push(u.pathname + u.search, u.pathname);
  if (u.search) out.push(u.search, u.search.slice(1));
  if (u.hash) out.push(u.hash);
  for (const [k, v] of u.searchParams) {
    out.push(`${k}=${v}`);
    if (v.length >= 3) out.push(v);
  }
  for (const seg of u.pathname.split('/')) if (seg.length >= 8) out.push(seg);
  if (u.username) out.push(u.username);
  if (u.password) out.push(u.password, `${u.username}:${u.password}`);
  return expand(out);
}

function expand(list: string[]): string[] {
  const all = new Set<string>();
  for (const s of list) {
    all.add(s);
    all.add(safeDecode(s));
    all.add(encodeURIComponent(safeDecode(s)));
  }
  return [...all];
}

/** `https://user:pass@host/x` → `https://***@host/x`; for URLs that are not secret as a whole. */
export function stripUrlCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return u.href;
    u.username = '';
    u.password = '';
    return u.href.replace('://', '://***@');
  } catch {
    return url.replace(/\/\/[^/@\s]*@/, '//***@');
  }
}

/** Message of an error and its causes (fetch hides the useful part in `cause`), unredacted. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 4; depth++) {
    if (cur instanceof Error) {
      const code = (cur as { code?: unknown }).code;
      parts.push(`${cur.name}: ${cur.message}${typeof code === 'string' && !cur.message.includes(code) ? ` (${code})` : ''}`);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(' <- ');
}
