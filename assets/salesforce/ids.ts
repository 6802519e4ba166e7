/** The alphabet of the case-safe suffix: 5 bits per character. */
const CASE_SAFE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';

/**
 * An 18-character Salesforce Id as Salesforce writes it, from one typed in any case: its last
 * three characters say which letters of the first fifteen are upper-case (five per character).
 * Null when they cannot be such a suffix (a character outside A–Z, 0–5, or a digit marked
 * upper-case), so the text is no Salesforce Id.
 */
export function caseSafeId(id18: string): string | null {
  if (!/^[A-Za-z0-9]{18}$/.test(id18)) return null;
  const suffix = id18.slice(15).toUpperCase();
  let id15 = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    const bits = CASE_SAFE_ALPHABET.indexOf(suffix[chunk]!);
    if (bits < 0) return null;
    for (let i = 0; i < 5; i++) {
      const ch = id18[chunk * 5 + i]!;
      const upper = (bits & (1 << i)) !== 0;
      if (upper && !/[A-Za-z]/.test(ch)) return null;
      id15 += upper ? ch.toUpperCase() : ch.toLowerCase();
    }
  }
  return id15 + suffix;
}
