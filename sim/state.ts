import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ChangeEventState } from './cdc.js';
import type { PackedRec, SfValue } from './record.js';
import type { FieldType } from './schema.js';

export interface PendingChange {
  n: number;
  /** Canonical field name → new value (datetimes as epoch ms). */
  patch: Record<string, SfValue>;
  sysMod: number;
  /** null = automated change: SystemModstamp moves, LastModifiedDate doesn't. */
  lastMod: number | null;
  visibleAt: number;
  create?: boolean;
  late?: boolean;
}

export interface RecentChange {
  n: number;
  field: string;
  from: SfValue;
}

export interface OrgStateFile {
  format: 'sfpipe-sim-org/1';
  seed: number;
  clock: number;
  day: number;
  nextN: number;
  usage: { day: number; used: number };
  schema: { added: Array<{ name: string; type: FieldType }>; changed: Array<{ name: string; type: FieldType }> };
  pending: PendingChange[];
  recent: RecentChange[];
  records: PackedRec[];
  /** Retained change events (absent in files written before change events existed). */
  changeEvents?: ChangeEventState;
}

/** Writes atomically: a reader never sees a half-written file. */
export function saveState(file: string, state: OrgStateFile): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  // One record per line keeps the file diffable and avoids one giant line.
  const { records, ...head } = state;
  const parts: string[] = [JSON.stringify(head).slice(0, -1), ',"records":[\n'];
  for (let i = 0; i < records.length; i++) {
    parts.push(JSON.stringify(records[i]), i + 1 < records.length ? ',\n' : '\n');
  }
  parts.push(']}\n');
  writeFileSync(tmp, parts.join(''));
  renameSync(tmp, file);
}

export function loadState(file: string): OrgStateFile | undefined {
  if (!existsSync(file)) return undefined;
  const data = JSON.parse(readFileSync(file, 'utf8')) as OrgStateFile;
  if (data.format !== 'sfpipe-sim-org/1') throw new Error(`${file}: not a simulator state file`);
  return data;
}
