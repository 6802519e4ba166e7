import { InvalidArgumentError } from 'commander';

export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

export function parseNonNegativeNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0.`);
    return n;
  };
}

export function parseChoice<T extends string>(name: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}.`);
    }
    return value as T;
  };
}

/** A TCP port to listen on; 0 asks for any free one. */
export function parsePort(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a whole number from 0 to 65535 (0: any free port).`);
    return n;
  };
}

/** An address or host name to listen on. */
export function parseHost(name: string) {
  return (value: string): string => {
    if (!/^[A-Za-z0-9.:-]+$/.test(value)) throw new InvalidArgumentError(`${name} must be an address or a host name.`);
    return value;
  };
}
