import { floorSecond, DAY_MS } from './datetime.js';
import { UserRec } from './record.js';
import { Rng } from './rng.js';
import { DIVISIONS, PHASES } from './schema.js';

export const FIRST_NAMES = [
  'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth',
  'David', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen',
  'Priya', 'Wei', 'Yuki', 'Fatima', 'Lars', 'Ingrid', 'Mateo', 'Sofia', 'Liam', 'Olivia', 'Noah', 'Emma',
  'Aarav', 'Chloé', 'José', 'Zoë', 'Björn', 'François', 'Siobhán', 'Łukasz', 'Ana', 'Mohammed',
] as const;

export const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernández', 'Müller', "O'Brien", "D'Angelo", 'Nguyễn', 'Kowalski', 'Schmidt', 'Rossi', 'Dubois',
  'van der Berg', 'Ó Súilleabháin', 'Taylor', 'Anderson', 'Thomas', 'Moore', 'Martin', 'Lee', 'Clark',
] as const;

/** Non-Latin names, used for a few percent of users. */
export const INTL_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['伟', '张'], ['芳', '王'], ['Анна', 'Иванова'], ['Дмитрий', 'Петров'], ['محمد', 'العلي'], ['فاطمة', 'حسن'],
  ['太郎', '山田'], ['지민', '김'], ['Γιώργος', 'Παπαδόπουλος'], ['אברהם', 'כהן'], ['राहुल', 'शर्मा'],
];

/** Rare names that stress CSV/JSON/SOQL escaping. */
export const TRICKY_NAMES: ReadonlyArray<readonly [string | null, string]> = [
  ['"Bud"', 'Lee'], ['Anne', 'Back\\slash'], ['Robert', 'Smith, Jr.'], ['Multi', 'Line\nName'],
  [null, 'Mononym'], ['Quote', 'He said "hi", then left'], ["Seán", "O'Neil-Ní Bhriain"],
];

const INVALID_DIVISIONS = ['north', 'N/A', 'Nrth', 'EMEA '];
const INVALID_PHASES = ['phase1', 'Phase 2', 'Done'];

export function pickName(rng: Rng): [string | null, string] {
  const r = rng.next();
  if (r < 0.01) {
    const [f, l] = rng.pick(TRICKY_NAMES);
    return [f, l];
  }
  if (r < 0.06) {
    const [f, l] = rng.pick(INTL_NAMES);
    return [f, l];
  }
  return [rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)];
}

export function pickDivision(rng: Rng): string | null {
  const r = rng.next();
  if (r < 0.01) return null;
  if (r < 0.015) return rng.pick(INVALID_DIVISIONS);
  return rng.pick(DIVISIONS);
}

export function pickPhase(rng: Rng): string | null {
  const r = rng.next();
  if (r < 0.02) return null;
  if (r < 0.025) return rng.pick(INVALID_PHASES);
  return rng.pick(PHASES);
}

/** Creates users numbered 1..count whose history lies within three years before `startMs`. */
export function generateUsers(count: number, seed: number, startMs: number): UserRec[] {
  const rng = new Rng(seed);
  const out = new Array<UserRec>(count);
  const span = 3 * 365 * DAY_MS;
  for (let i = 0; i < count; i++) {
    const [first, last] = pickName(rng);
    const created = floorSecond(startMs - span + rng.next() * (span - 30 * DAY_MS));
    const lastMod = floorSecond(created + rng.next() * (startMs - DAY_MS - created));
    // ~20% had a later automated touch: SystemModstamp moved, LastModifiedDate didn't.
    const sysMod = rng.chance(0.2) ? Math.min(lastMod + 1000 + floorSecond(rng.next() * 3 * DAY_MS), startMs - 1000) : lastMod;
    out[i] = new UserRec(i + 1, first, last, pickDivision(rng), pickPhase(rng), !rng.chance(0.05), created, lastMod, sysMod, null);
  }
  return out;
}
