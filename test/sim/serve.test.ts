import test from 'ava';
import { serveCommand } from '../../sim/serve.js';
import { csvRow } from '../../sim/csv.js';
import { parseCsv } from './helpers.js';
import { formatSf, parseSfDatetime } from '../../sim/datetime.js';
import { caseSafeSuffix, idNumber, makeId } from '../../sim/ids.js';

test('serveCommand prints one line with the URL and public client id, and stops on SIGTERM', async (t) => {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  let done = false;
  const run = serveCommand({ port: 0, host: '127.0.0.1', users: 25, seed: 1 }).then(() => { done = true; });
  try {
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 10));
  } finally {
    process.stdout.write = write;
  }
  t.is(lines.length, 1);
  t.regex(lines[0]!, /^Salesforce simulator listening on http:\/\/127\.0\.0\.1:\d+ \(25 users; login with client_id=sfpipe-sim-client via client_credentials\)\n$/);
  t.false(lines[0]!.includes('secret'));
  const url = /listening on (\S+)/.exec(lines[0]!)![1]!;
  t.is((await fetch(`${url}/services/data/`)).status, 200);
  t.false(done);
  process.emit('SIGTERM');
  await run;
  t.true(done);
});

test('csv: RFC 4180 round-trip with quotes, delimiters, newlines and nulls', (t) => {
  const values = ['plain', 'a,b', 'say "hi"', 'line\nbreak', null, '张伟', 'back\\slash'];
  const text = csvRow(values, ',', '\n') + csvRow(values, ',', '\r\n');
  t.deepEqual(parseCsv(text), [values, values]);
  t.is(csvRow(['x', null], ',', '\n'), '"x",\n');
});

test('datetime and ids', (t) => {
  t.is(formatSf(Date.UTC(2025, 4, 1, 10, 30)), '2025-05-01T10:30:00.000+0000');
  t.is(parseSfDatetime('2025-05-01T10:30:00.000+0000'), Date.UTC(2025, 4, 1, 10, 30));
  t.is(parseSfDatetime('2025-05-01T12:30:00+02:00'), Date.UTC(2025, 4, 1, 10, 30));
  t.is(parseSfDatetime('2025-05-01'), undefined);
  // Known Salesforce example: 001A0000006Vm9r → 001A0000006Vm9rIAC
  t.is(caseSafeSuffix('001A0000006Vm9r'), 'IAC');
  const id = makeId('005', 'Qb', 123456);
  t.is(id.length, 18);
  t.is(idNumber(id, '005', 'Qb'), 123456);
  t.is(idNumber(id.slice(0, 15), '005', 'Qb'), 123456);
  t.is(idNumber(`${id.slice(0, 15)}AAA`, '005', 'Qb'), undefined);
});
