import test from 'ava';

import { caseSafeId } from '../../assets/salesforce/ids.js';
import { caseSafeSuffix, makeId } from '../../sim/ids.js';

test('caseSafeId gives back the Id Salesforce wrote, whatever the case it was typed in', (t) => {
  // Ids with letters of both cases in every 5-character chunk.
  const ids = ['005Qb00000000kD', '0055g00000AbCdE', '001xX0000zZyYwW'].map((id15) => id15 + caseSafeSuffix(id15));
  for (let n = 1; n < 400_000; n += 7919) ids.push(makeId('005', 'Qb', n * 104_729));
  for (const id of ids) {
    for (const typed of [id, id.toLowerCase(), id.toUpperCase()]) t.is(caseSafeId(typed), id, typed);
  }
});

test('caseSafeId refuses what no suffix can describe: a character outside A–Z0–5, a digit marked upper-case, a wrong length', (t) => {
  t.is(caseSafeId('005Qb00000000kDIA9'), null); // 9 is not in the suffix alphabet
  t.is(caseSafeId('005Qb00000000kDIAB'), null); // B marks the first character of the third chunk ('0') upper-case
  t.is(caseSafeId('005Qb00000000kD'), null);
  t.is(caseSafeId('005Qb00000000kDIA-'), null);
});
