export type SfValue = string | number | boolean | null;

/**
 * One immutable version of a user. Updates replace the object, so a query
 * snapshot (an array of references) stays consistent while the org changes.
 * Id, Username, Email and Name are derived from `n` and the name parts to keep
 * a million records small.
 */
export class UserRec {
  constructor(
    readonly n: number,
    readonly first: string | null,
    readonly last: string,
    readonly division: string | null,
    readonly phase: string | null,
    readonly active: boolean,
    readonly created: number,
    readonly lastMod: number,
    readonly sysMod: number,
    /** Overrides of derived fields and values of fields added by schema evolution. */
    readonly extra: Readonly<Record<string, SfValue>> | null,
  ) {}

  with(p: RecPatch): UserRec {
    return new UserRec(
      this.n,
      p.first !== undefined ? p.first : this.first,
      p.last ?? this.last,
      p.division !== undefined ? p.division : this.division,
      p.phase !== undefined ? p.phase : this.phase,
      p.active ?? this.active,
      p.created ?? this.created,
      p.lastMod ?? this.lastMod,
      p.sysMod ?? this.sysMod,
      p.extra !== undefined ? p.extra : this.extra,
    );
  }
}

export type RecPatch = { -readonly [K in Exclude<keyof UserRec, 'n' | 'with'>]?: UserRec[K] };

export type PackedRec = [number, string | null, string, string | null, string | null, 0 | 1, number, number, number, Record<string, SfValue> | 0];

export function pack(r: UserRec): PackedRec {
  return [r.n, r.first, r.last, r.division, r.phase, r.active ? 1 : 0, r.created, r.lastMod, r.sysMod, r.extra ? { ...r.extra } : 0];
}

export function unpack(p: PackedRec): UserRec {
  return new UserRec(p[0], p[1], p[2], p[3], p[4], p[5] === 1, p[6], p[7], p[8], p[9] === 0 ? null : p[9]);
}
