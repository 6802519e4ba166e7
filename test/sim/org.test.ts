import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimOrg, type SfUser } from '../../sim/org.js';
import { DIVISIONS, PHASES } from '../../sim/schema.js';

function digest(org: SimOrg): string {
  const h = createHash('sha256');
  for (const u of org.all()) h.update(JSON.stringify(u));
  return h.digest('hex');
}

function snapshot(org: SimOrg): Map<string, SfUser> {
  return new Map([...org.all()].map((u) => [u.Id as string, u]));
}

test('generation is deterministic per seed and looks like an org', (t) => {
  const a = new SimOrg({ users: 3000, seed: 42 });
  const b = new SimOrg({ users: 3000, seed: 42 });
  const c = new SimOrg({ users: 3000, seed: 43 });
  t.is(digest(a), digest(b));
  t.not(digest(a), digest(c));
  const users = [...a.all()];
  t.is(users.length, 3000);
  t.is(a.count(), 3000);
  for (const u of users) {
    t.regex(u.Id as string, /^005[A-Za-z0-9]{15}$/);
    t.true((u.LastModifiedDate as string) <= (u.SystemModstamp as string));
    t.true((u.CreatedDate as string) <= (u.LastModifiedDate as string));
    t.regex(u.SystemModstamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$/);
  }
  t.is(new Set(users.map((u) => u.Id)).size, 3000);
  const names = users.map((u) => String(u.Name));
  t.true(names.some((n) => n.includes("O'Brien")));
  t.true(names.some((n) => /[\u4e00-\u9fff]/.test(n)), 'CJK');
  t.true(names.some((n) => /[\u0400-\u04ff]/.test(n)), 'Cyrillic');
  t.true(names.some((n) => /[\u0600-\u06ff]/.test(n)), 'Arabic');
  t.true(names.some((n) => n.includes('"')));
  t.true(names.some((n) => n.includes('\\')));
  t.true(names.some((n) => /[éü]/.test(n)));
  const divisions = users.map((u) => u.Division);
  t.true(divisions.filter((d) => DIVISIONS.includes(d as never)).length > 2900);
  t.true(divisions.includes(null));
  t.true(divisions.some((d) => d !== null && !DIVISIONS.includes(d as never)), 'a few invalid divisions');
  const phases = users.map((u) => u.Audit_Phase__c);
  t.true(phases.includes(null));
  t.true(phases.some((p) => p !== null && !PHASES.includes(p as never)), 'a few invalid phases');
  t.true(users.some((u) => u.LastModifiedDate !== u.SystemModstamp), 'automated touches exist');
  t.is(a.get(users[10]!.Id as string)!.Name, users[10]!.Name);
  t.is(a.get('005000000000000AAA'), undefined);
});

test('advanceDay is deterministic and keeps per-record invariants', (t) => {
  const a = new SimOrg({ users: 4000, seed: 42 });
  const b = new SimOrg({ users: 4000, seed: 42 });
  for (let day = 1; day <= 4; day++) {
    const before = snapshot(a);
    const changes = a.advanceDay();
    t.deepEqual(changes, b.advanceDay());
    t.is(changes.day, day);
    t.is(a.now().getTime() - new Date(changes.from.replace('+0000', 'Z')).getTime(), 86_400_000);
    // ~1–2% division and phase changes, plus the rest.
    t.true(changes.changed.length > 4000 * 0.02 && changes.changed.length < 4000 * 0.06, `${changes.changed.length}`);
    t.true(changes.created.length >= 3);
    t.true(changes.deactivated.length >= 1);
    t.true(changes.multiChanged.length >= 1);
    t.true(changes.automated.length >= 1);
    t.is(changes.lateCommitted.length, 1);
    const after = snapshot(a);
    t.is(after.size, before.size + changes.created.length);
    for (const [id, u] of after) {
      t.true((u.LastModifiedDate as string) <= (u.SystemModstamp as string), id);
      const prev = before.get(id);
      if (!prev) continue;
      t.true((u.SystemModstamp as string) >= (prev.SystemModstamp as string), id);
      const changed = JSON.stringify({ ...u, SystemModstamp: 0, LastModifiedDate: 0 }) !== JSON.stringify({ ...prev, SystemModstamp: 0, LastModifiedDate: 0 });
      if (changed) t.true((u.SystemModstamp as string) > (prev.SystemModstamp as string), `${id} changed without a new SystemModstamp`);
    }
    for (const id of changes.deactivated) t.false(after.get(id)!.IsActive);
    for (const id of changes.automated) {
      t.is(after.get(id)!.LastModifiedDate, before.get(id)!.LastModifiedDate);
      t.not(after.get(id)!.SystemModstamp, before.get(id)!.SystemModstamp);
    }
    // Several changes of one user: distinct, strictly increasing stamps within the day.
    const multi = changes.multiChanged[0]!;
    const stamps = changes.events.filter((e) => e.id === multi).map((e) => e.systemModstamp);
    t.true(stamps.length >= 2);
    t.is(new Set(stamps).size, stamps.length);
    t.is(after.get(multi)!.SystemModstamp, stamps[stamps.length - 1]);
  }
  t.is(digest(a), digest(b));
});

test('A→B→A: returned users get back their value from before the previous day', (t) => {
  const org = new SimOrg({ users: 3000, seed: 42 });
  let prev = snapshot(org);
  let seen = 0;
  for (let day = 1; day <= 4; day++) {
    const mid = snapshot(org);
    const ch = org.advanceDay();
    const now = snapshot(org);
    if (day > 1) t.true(ch.returned.length > 0);
    for (const id of ch.returned) {
      const field = ch.events.find((e) => e.id === id)!.fields[0]!;
      t.not(mid.get(id)![field], prev.get(id)![field]);
      t.is(now.get(id)![field], prev.get(id)![field]);
      seen++;
    }
    prev = mid;
  }
  t.true(seen > 0);
});

test('late-committed change: stamped ~50-55 min before it becomes visible, after the day ends', (t) => {
  const org = new SimOrg({ users: 2000, seed: 5 });
  const d1 = org.advanceDay();
  const late = d1.lateCommitted[0]!;
  const stamp = Date.parse(late.systemModstamp.replace('+0000', 'Z'));
  const visibleAt = Date.parse(late.visibleAt.replace('+0000', 'Z'));
  t.true(visibleAt - stamp >= 3_000_000 && visibleAt - stamp <= 3_301_000);
  t.true(visibleAt > org.now().getTime(), 'not visible at the end of the day');
  t.not(org.get(late.id)!.SystemModstamp, late.systemModstamp);
  // A pipeline running now would already have seen stamps later than the late one.
  const maxVisible = [...org.all()].map((u) => u.SystemModstamp as string).sort().pop()!;
  t.true(maxVisible > late.systemModstamp);
  t.is(org.pendingChanges().length, 1);

  const d2 = org.advanceDay();
  t.true(d2.becameVisible.includes(late.id));
  t.is(org.get(late.id)!.SystemModstamp, late.systemModstamp);
  t.is(org.get(late.id)!.LastModifiedDate, late.systemModstamp);

  // setClock reveals pending changes too.
  const late2 = d2.lateCommitted[0]!;
  org.setClock(late2.visibleAt.replace('+0000', 'Z'));
  t.is(org.get(late2.id)!.SystemModstamp, late2.systemModstamp);
});

test('test mutators: updateUser bumps SystemModstamp, createUser, hardDelete, commitLate, schema evolution', (t) => {
  const org = new SimOrg({ users: 100, seed: 1 });
  const id = org.all().next().value!.Id as string;
  const prev = org.get(id)!;
  const at = new Date(Date.parse((prev.SystemModstamp as string).replace('+0000', 'Z')) - 3_600_000);
  const u = org.updateUser(id, { division: 'West', Audit_Phase__c: null }, { at });
  t.is(u.Division, 'West');
  t.is(u.Audit_Phase__c, null);
  t.true((u.SystemModstamp as string) > (prev.SystemModstamp as string), 'bumped above the previous stamp');
  t.is(u.LastModifiedDate, u.SystemModstamp);
  const auto = org.updateUser(id, {}, { automated: true });
  t.is(auto.LastModifiedDate, u.LastModifiedDate);
  t.true((auto.SystemModstamp as string) > (u.SystemModstamp as string));
  t.throws(() => org.updateUser(id, { IsDeleted: true }), { message: /No such column 'IsDeleted'/ });

  const nid = org.createUser({ FirstName: 'Zoë', LastName: "D'Arcy", Division: 'North' });
  t.is(org.count(), 101);
  t.is(org.get(nid)!.Name, "Zoë D'Arcy");
  t.is(org.get(nid)!.CreatedDate, '2025-05-01T00:00:00.000+0000');

  t.true(org.hardDelete(nid));
  t.is(org.get(nid), undefined);
  t.is(org.count(), 100);
  t.false(org.hardDelete(nid));

  org.setClock('2025-05-02T00:00:00Z');
  const late = org.commitLate(id, { Division: 'East' }, '2025-05-01T22:00:00Z');
  t.is(late.SystemModstamp, '2025-05-01T22:00:00.000+0000');
  t.throws(() => org.commitLate(id, { Division: 'North' }, '2025-04-01T00:00:00Z'));

  org.addField('Region__c', 'string');
  t.is(org.get(id)!.Region__c, null);
  org.updateUser(id, { Region__c: 'EMEA' });
  t.is(org.get(id)!.Region__c, 'EMEA');
  org.changeFieldType('Division', 'picklist');
  t.is(org.schema.lookup('division')!.type, 'picklist');
  t.throws(() => org.changeFieldType('Id', 'string'));
});

test('state file: the org evolves across instances and is written atomically', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sfsim-'));
  const file = join(dir, 'org.json');
  const a = new SimOrg({ users: 500, seed: 9, stateFile: file });
  t.true(existsSync(file));
  const d1 = a.advanceDay();
  a.addField('Region__c', 'string');
  a.consumeApiCall(100);
  a.persist();
  const b = new SimOrg({ users: 10, seed: 1, stateFile: file });
  t.is(b.count(), a.count());
  t.is(b.now().getTime(), a.now().getTime());
  t.is(digest(b), digest(a));
  t.is(b.pendingChanges().length, 1);
  t.is(b.apiUsage(), 1);
  t.truthy(b.schema.lookup('Region__c'));
  // Both continue identically, including the late change becoming visible.
  const d2a = a.advanceDay();
  const d2b = b.advanceDay();
  t.deepEqual(d2a, d2b);
  t.true(d2b.becameVisible.includes(d1.lateCommitted[0]!.id));
  t.deepEqual(readdirSync(dir), ['org.json'], 'no temp files left behind');
  t.notThrows(() => JSON.parse(readFileSync(file, 'utf8')));
});

// Generation alone takes well under a second; the day of changes is for SFPIPE_SLOW=1.
test('1M users generate (time logged, not asserted)', (t) => {
  const start = Date.now();
  const org = new SimOrg({ users: 1_000_000 });
  const ms = Date.now() - start;
  t.is(org.count(), 1_000_000);
  t.log(`generated 1M users in ${ms} ms, rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
  if (process.env.SFPIPE_SLOW === '1') {
    const d = org.advanceDay();
    t.true(d.changed.length > 10_000);
  }
});
