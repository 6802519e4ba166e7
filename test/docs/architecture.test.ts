/**
 * docs/architecture.md's rooms and their import rules are the code's: every relative import of the
 * product's sources (runtime/, assets/, k8s/, sim/, bin/) goes to its own room or one its row
 * allows. The rules are read from the document's table, so the document cannot drift from the
 * code without this failing. (runtime/'s ban on pipeline packages: test/runtime/runtime-boundary.)
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { importSpecifiers, tsFiles } from '../helpers/import-specifiers.js';
import { repoRoot } from '../services/process-utils.js';

const root = repoRoot();
const PRODUCT = ['runtime', 'assets', 'k8s', 'sim', 'bin'];

interface Rule {
  room: string;
  allowed: string[];
}

/** The rows of the "Folders and dependency direction" table: `room` | holds | may import. */
function readRules(markdown: string): Rule[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Folders and dependency direction'));
  if (!section) throw new Error('docs/architecture.md has no "Folders and dependency direction" section');
  const rules: Rule[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const room = /^`([^`]+\/)`$/.exec(cells[1] ?? '')?.[1];
    if (!room || cells.length < 5) continue;
    const allowed = [...(cells[3] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    rules.push({ room, allowed: (cells[3] ?? '') === 'everything' ? ['*'] : allowed });
  }
  return rules;
}

/** The room a repository path belongs to: the longest room that contains it. */
function roomOf(rules: Rule[], rel: string): Rule | undefined {
  return rules.filter((r) => rel.startsWith(r.room)).sort((a, b) => b.room.length - a.room.length)[0];
}

function allows(rule: Rule, target: Rule): boolean {
  return target.room === rule.room || rule.allowed.some((a) => a === '*' || a === target.room || (a.endsWith('/*') && target.room.startsWith(a.slice(0, -1))));
}

/** Every import of the product's sources that its room's row does not allow. */
function offences(rules: Rule[]): { checked: number; offences: string[] } {
  const out: string[] = [];
  let checked = 0;
  for (const top of PRODUCT) {
    for (const file of tsFiles(path.join(root, top))) {
      const rel = path.relative(root, file).split(path.sep).join('/');
      const rule = roomOf(rules, rel);
      if (!rule) {
        out.push(`${rel}: in no room of the table`);
        continue;
      }
      for (const spec of importSpecifiers(fs.readFileSync(file, 'utf8'))) {
        if (!spec.startsWith('.')) continue;
        checked++;
        const target = path.relative(root, path.resolve(path.dirname(file), spec)).split(path.sep).join('/');
        const targetRule = roomOf(rules, target);
        if (!targetRule) out.push(`${rel}: ${spec} (outside every room)`);
        else if (!allows(rule, targetRule)) out.push(`${rel} (${rule.room}) imports ${spec} (${targetRule.room}), which its row does not allow`);
      }
    }
  }
  return { checked, offences: out };
}

const doc = fs.readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');

test('the table names the rooms: runtime/ may import nothing, assets/ rooms are listed', (t) => {
  const rules = readRules(doc);
  t.like(rules.find((r) => r.room === 'runtime/'), { allowed: [] });
  t.true(rules.filter((r) => r.room.startsWith('assets/') && r.room !== 'assets/').length >= 8);
  for (const r of rules) {
    for (const a of r.allowed) t.true(a === '*' || a.endsWith('/*') || rules.some((x) => x.room === a), `${r.room} allows ${a}, a room of the table`);
  }
});

test('every relative import of runtime/, assets/, k8s/, sim/ and bin/ follows docs/architecture.md', (t) => {
  const { checked, offences: found } = offences(readRules(doc));
  t.true(checked > 300, `imports checked: ${checked}`);
  t.deepEqual(found, []);
});

test('a rule the code breaks is found: without assets/warehouse/ in assets/salesforce/\'s row, its row types are offences', (t) => {
  const rules = readRules(doc).map((r) => (r.room === 'assets/salesforce/' ? { ...r, allowed: r.allowed.filter((a) => a !== 'assets/warehouse/') } : r));
  const { offences: found } = offences(rules);
  t.true(found.some((o) => o.startsWith('assets/salesforce/records.ts (assets/salesforce/) imports ../warehouse/raw-warehouse.js')), found.join('\n'));
});
