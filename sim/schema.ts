export type FieldType =
  | 'id' | 'string' | 'email' | 'textarea' | 'boolean' | 'datetime' | 'date'
  | 'picklist' | 'reference' | 'double' | 'int';

export interface FieldDef {
  name: string;
  type: FieldType;
  label: string;
  length: number;
  nillable: boolean;
  custom: boolean;
  updateable: boolean;
  picklistValues?: string[];
  referenceTo?: string[];
}

const SOAP_TYPES: Record<FieldType, string> = {
  id: 'tns:ID', reference: 'tns:ID', string: 'xsd:string', email: 'xsd:string', textarea: 'xsd:string',
  picklist: 'xsd:string', boolean: 'xsd:boolean', datetime: 'xsd:dateTime', date: 'xsd:date',
  double: 'xsd:double', int: 'xsd:int',
};

const TEXT_LENGTH: Partial<Record<FieldType, number>> = {
  id: 18, reference: 18, string: 255, email: 80, textarea: 255, picklist: 255,
};

export const DIVISIONS = ['North', 'South', 'East', 'West', 'Central'] as const;
export const PHASES = ['Phase1', 'Phase2', 'Phase3', 'Complete'] as const;

function base(): FieldDef[] {
  const f = (name: string, type: FieldType, label: string, extra: Partial<FieldDef> = {}): FieldDef => ({
    name, type, label, length: TEXT_LENGTH[type] ?? 0, nillable: true, custom: false, updateable: true, ...extra,
  });
  return [
    f('Id', 'id', 'User ID', { nillable: false, updateable: false }),
    f('Username', 'string', 'Username', { length: 80, nillable: false }),
    f('Name', 'string', 'Full Name', { length: 121, nillable: false, updateable: false }),
    f('FirstName', 'string', 'First Name', { length: 40 }),
    f('LastName', 'string', 'Last Name', { length: 80, nillable: false }),
    f('Email', 'email', 'Email', { length: 128, nillable: false }),
    f('Division', 'string', 'Division', { length: 80 }),
    f('Audit_Phase__c', 'picklist', 'Audit Phase', { custom: true, picklistValues: [...PHASES] }),
    f('IsActive', 'boolean', 'Active', { nillable: false }),
    f('ProfileId', 'reference', 'Profile ID', { nillable: false, referenceTo: ['Profile'] }),
    f('CreatedDate', 'datetime', 'Created Date', { nillable: false, updateable: false }),
    f('LastModifiedDate', 'datetime', 'Last Modified Date', { nillable: false, updateable: false }),
    f('SystemModstamp', 'datetime', 'System Modstamp', { nillable: false, updateable: false }),
  ];
}

/** Field list of the User object; mutable for schema-evolution tests. */
export class UserSchema {
  private list: FieldDef[];
  private byLower = new Map<string, FieldDef>();

  constructor(extra: Array<{ name: string; type: FieldType }> = []) {
    this.list = base();
    for (const f of this.list) this.byLower.set(f.name.toLowerCase(), f);
    for (const e of extra) this.addField(e.name, e.type);
  }

  fields(): readonly FieldDef[] {
    return this.list;
  }

  lookup(name: string): FieldDef | undefined {
    return this.byLower.get(name.toLowerCase());
  }

  isBuiltin(name: string): boolean {
    return base().some((f) => f.name.toLowerCase() === name.toLowerCase());
  }

  addField(name: string, type: FieldType): FieldDef {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid field name ${name}`);
    if (this.byLower.has(name.toLowerCase())) throw new Error(`field ${name} already exists`);
    const def: FieldDef = {
      name, type, label: name.replace(/__c$/, '').replace(/_/g, ' '), length: TEXT_LENGTH[type] ?? 0,
      nillable: true, custom: name.endsWith('__c'), updateable: true,
    };
    this.list.push(def);
    this.byLower.set(name.toLowerCase(), def);
    return def;
  }

  changeFieldType(name: string, type: FieldType): void {
    const def = this.lookup(name);
    if (!def) throw new Error(`no field ${name}`);
    if (def.name === 'Id' || def.type === 'datetime' && this.isBuiltin(def.name)) {
      throw new Error(`cannot change type of ${def.name}`);
    }
    def.type = type;
    def.length = TEXT_LENGTH[type] ?? 0;
  }

  /** Fields added after creation, for the state file. */
  added(): Array<{ name: string; type: FieldType }> {
    return this.list.filter((f) => !this.isBuiltin(f.name)).map((f) => ({ name: f.name, type: f.type }));
  }

  /** Builtins whose type was changed, for the state file. */
  changedTypes(): Array<{ name: string; type: FieldType }> {
    const orig = new Map(base().map((f) => [f.name, f.type]));
    return this.list.filter((f) => orig.has(f.name) && orig.get(f.name) !== f.type).map((f) => ({ name: f.name, type: f.type }));
  }

  describe(apiVersion: string): Record<string, unknown> {
    const fields = this.list.map((f) => ({
      name: f.name,
      label: f.label,
      type: f.type,
      soapType: SOAP_TYPES[f.type],
      length: f.length,
      byteLength: f.length * 3,
      digits: 0,
      precision: f.type === 'double' ? 18 : 0,
      scale: 0,
      nillable: f.nillable,
      custom: f.custom,
      calculated: f.name === 'Name',
      createable: f.updateable,
      updateable: f.updateable,
      filterable: true,
      sortable: f.type !== 'textarea',
      groupable: f.type !== 'datetime',
      unique: f.name === 'Username',
      externalId: false,
      idLookup: f.name === 'Id' || f.name === 'Username',
      defaultValue: null,
      defaultedOnCreate: f.type === 'boolean' || f.name === 'Id',
      picklistValues: (f.picklistValues ?? []).map((v) => ({ active: true, defaultValue: false, label: v, validFor: null, value: v })),
      referenceTo: f.referenceTo ?? [],
      relationshipName: f.type === 'reference' ? f.name.replace(/Id$/, '') : null,
    }));
    const base = `/services/data/v${apiVersion}/sobjects/User`;
    return {
      name: 'User', label: 'User', labelPlural: 'Users', keyPrefix: '005', custom: false,
      queryable: true, retrieveable: true, replicateable: true, searchable: true,
      createable: true, updateable: true, deletable: false, undeletable: false,
      fields,
      childRelationships: [],
      recordTypeInfos: [],
      urls: { sobject: base, describe: `${base}/describe`, rowTemplate: `${base}/{ID}` },
    };
  }
}
