/**
 * Keys close to `wanted`, best first: by edit distance on the whole key or on its
 * last part, or containing / contained in it.
 */
export function suggestKeys(wanted: string, keys: Iterable<string>, limit = 3): string[] {
  const lower = wanted.toLowerCase();
  const wantedLast = lastPart(lower);
  const scored: { key: string; score: number }[] = [];
  for (const key of keys) {
    const k = key.toLowerCase();
    const whole = editDistance(lower, k);
    const last = editDistance(wantedLast, lastPart(k));
    let score = Math.min(whole, last + 1);
    const close = score <= Math.max(2, Math.floor(lower.length / 3));
    const contains = k.includes(lower) || (wantedLast.length >= 3 && k.includes(wantedLast));
    if (!close && !contains) continue;
    if (contains) score = Math.min(score, 3);
    scored.push({ key, score });
  }
  scored.sort((a, b) => a.score - b.score || a.key.localeCompare(b.key));
  return scored.slice(0, limit).map((s) => s.key);
}

function lastPart(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
