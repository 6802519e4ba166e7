/** Asset keys are multi-part paths written with slashes, e.g. `sf_raw/sf_user`. */
export type AssetKey = string;

const PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function keyParts(key: AssetKey): string[] {
  return key.split('/');
}

export function formatKey(parts: readonly string[]): AssetKey {
  return parts.join('/');
}

/** Returns a reason when the key is malformed, else null. */
export function invalidKeyReason(key: string): string | null {
  if (key.length === 0) return 'the key is empty';
  for (const part of keyParts(key)) {
    if (!PART.test(part)) {
      return `the part "${part}" must be letters, digits, "_", "." or "-" (and not start with "." or "-")`;
    }
  }
  return null;
}
