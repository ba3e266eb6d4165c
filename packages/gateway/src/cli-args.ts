// Argument parsing for the `finora-auth` command on node:util parseArgs, with one-line usage errors.

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how the command was called: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure of what the command was asked to do (unknown account, store down): one line, exit status 1. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  /** Options declared `multiple: true` (`--scope a --scope b`), each as the list given; absent when not given. */
  lists: Record<string, string[]>;
  positionals: string[];
  help: boolean;
}

/** Parses `args` for `command` (e.g. "keys create"), strictly: unknown options and stray arguments are errors. */
export function parse(command: string, args: string[], options: Options, maxPositionals = 0): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: negativeValuesJoined(args, options),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
      allowNegative: true,
      tokens: true,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    const option = /'(-[^' ]+)/.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new UsageError(`unknown option ${option ?? ''} for "${command}" (see: finora-auth ${command} --help)`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`option ${option ?? ''} of "${command}" needs a value (see: finora-auth ${command} --help)`);
    }
    throw new UsageError(`${message.split('\n')[0]} (see: finora-auth ${command} --help)`);
  }
  refuseContradictions(command, parsed.tokens);
  const values = { ...parsed.values } as Record<string, string | boolean | undefined>;
  const lists: Record<string, string[]> = {};
  for (const [name, option] of Object.entries(options)) {
    const given = (parsed.values as Record<string, unknown>)[name];
    if (!option.multiple) continue;
    delete values[name];
    if (Array.isArray(given)) lists[name] = given.filter((item): item is string => typeof item === 'string');
  }
  const help = values.help === true;
  if (!help && parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])} for "${command}" (see: finora-auth ${command} --help)`);
  }
  return { values, lists, positionals: parsed.positionals, help };
}

/**
 * `--within -3` as `--within=-3`: parseArgs reads `-3` as an option and would say the value is missing, when
 * the value is there and wrong; joined, the option's own check names it ("must be a whole number").
 */
function negativeValuesJoined(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else out.push(arg);
  }
  return out;
}

/** `--enterprise --no-enterprise` says two things; parseArgs would keep the last silently. */
function refuseContradictions(command: string, tokens: ReturnType<typeof parseArgs>['tokens']): void {
  const seen = new Map<string, string>();
  for (const token of tokens ?? []) {
    if (token.kind !== 'option' || token.value !== undefined) continue;
    const previous = seen.get(token.name);
    if (previous !== undefined && previous !== token.rawName) {
      throw new UsageError(`${previous} and ${token.rawName} contradict each other; give one (see: finora-auth ${command} --help)`);
    }
    seen.set(token.name, token.rawName);
  }
}

export function requireValue(parsed: Parsed, name: string, command: string): string {
  const value = parsed.values[name];
  if (typeof value !== 'string' || value === '') {
    throw new UsageError(`"${command}" needs --${name} (see: finora-auth ${command} --help)`);
  }
  return value;
}

export function requirePositional(parsed: Parsed, index: number, label: string, command: string): string {
  const value = parsed.positionals[index];
  if (value === undefined || value === '') {
    throw new UsageError(`"${command}" needs ${label} (see: finora-auth ${command} --help)`);
  }
  return value;
}

export function oneOf<T extends string>(value: string, allowed: readonly T[], option: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${option} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** A whole number from a flag or environment variable, checked against a range; names its source when wrong. */
export function wholeNumber(value: string, source: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${source} must be a whole number; got ${JSON.stringify(value)}`);
  const number = Number(value.trim());
  if (number < min || number > max) throw new UsageError(`${source} must be between ${min} and ${max}; got ${number}`);
  return number;
}
