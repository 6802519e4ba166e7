const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SUFFIX = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

/** The 3-character case-safe suffix Salesforce appends to 15-character ids. */
export function caseSafeSuffix(id15: string): string {
  let out = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let bits = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15.charCodeAt(chunk * 5 + i);
      if (c >= 65 && c <= 90) bits |= 1 << i;
    }
    out += SUFFIX[bits];
  }
  return out;
}

function base62(n: number, width: number): string {
  let s = '';
  while (n > 0) {
    s = B62[n % 62] + s;
    n = Math.floor(n / 62);
  }
  return s.padStart(width, '0');
}

/** Deterministic 18-char id: prefix(3) + pod(2) + '0' + base62(n)(9) + suffix(3). */
export function makeId(prefix: string, pod: string, n: number): string {
  const id15 = prefix + pod + '0' + base62(n, 9);
  return id15 + caseSafeSuffix(id15);
}

/** Inverse of makeId for the number part; undefined if the id is not ours. */
export function idNumber(id: string, prefix: string, pod: string): number | undefined {
  if (id.length !== 18 && id.length !== 15) return undefined;
  if (!id.startsWith(prefix + pod + '0')) return undefined;
  const id15 = id.slice(0, 15);
  if (id.length === 18 && caseSafeSuffix(id15) !== id.slice(15)) return undefined;
  let n = 0;
  for (const ch of id15.slice(6)) {
    const v = B62.indexOf(ch);
    if (v < 0) return undefined;
    n = n * 62 + v;
  }
  return n;
}

export function podFor(seed: number): string {
  return B62[10 + (seed % 26)]! + B62[36 + (Math.floor(seed / 26) % 26)]!;
}
