import type { SourceColumn } from '../config/pipeline-config.js';
import type { ColumnType } from '../warehouse/raw-warehouse.js';

export interface DescribeField {
  name: string;
  type: string;
}

const SF_TYPES: Record<string, ColumnType> = {
  id: 'string',
  string: 'string',
  picklist: 'string',
  multipicklist: 'string',
  reference: 'string',
  email: 'string',
  phone: 'string',
  url: 'string',
  textarea: 'string',
  combobox: 'string',
  encryptedstring: 'string',
  boolean: 'boolean',
  datetime: 'timestamp',
  date: 'date',
  double: 'double',
  currency: 'double',
  percent: 'double',
  int: 'bigint',
  long: 'bigint',
};

export class FieldTypeMismatchError extends Error {
  override name = 'FieldTypeMismatchError';
}

export interface FieldPlan {
  /** Configured columns the object has, with Salesforce's spelling. */
  selected: SourceColumn[];
  /** Configured columns the object lacks (their raw column stays null). */
  missing: SourceColumn[];
}

/** Configured columns ∩ describe; a type that disagrees with Salesforce's is an error. */
export function planFields(object: string, configured: SourceColumn[], describe: DescribeField[]): FieldPlan {
  const byLower = new Map(describe.map((f) => [f.name.toLowerCase(), f]));
  const selected: SourceColumn[] = [];
  const missing: SourceColumn[] = [];
  for (const col of configured) {
    const f = byLower.get(col.name.toLowerCase());
    if (!f) {
      missing.push(col);
      continue;
    }
    const sfType = SF_TYPES[f.type] ?? 'string';
    if (sfType !== col.type) {
      throw new FieldTypeMismatchError(
        `${object}.${f.name} is a Salesforce ${f.type} (${sfType}) but the config says ${col.type}; ` +
          `set its type to ${sfType} in source.columns (the raw table keeps its old type, so a real change needs a new column name)`,
      );
    }
    selected.push({ name: f.name, type: col.type });
  }
  return { selected, missing };
}
