/**
 * Command-line flags shared by `nuvem node`, `nuvem broker` and `nuvem up`,
 * and the exposure rule (DESIGN.md section 7.6). Pure: parses what it is given.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';
import { isLevel, type Level } from './log.ts';

type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

/** A command's flags (no positionals), parsed strictly; a bad flag is a UsageError. Shared by node, broker and up. */
export function parseFlags<O extends FlagSpecs>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true as const, allowPositionals: false as const, options }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `--log-level`, default info. */
export function parseLevel(value: string | undefined): Level {
  const level = value ?? 'info';
  if (!isLevel(level)) throw new UsageError(`Cannot use --log-level "${level}": expected debug, info, warn or error`);
  return level;
}

/** Refuses to listen beyond loopback without a token (DESIGN.md section 7.6). */
export function checkExposure(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new UsageError(
      `Refusing to listen on ${host} without a token: anyone who can reach it could read and change every file. ` +
        'Pass --token (or set NUVEM_TOKEN), or bind to 127.0.0.1.',
    );
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function intOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`Cannot use ${name} "${value}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}
