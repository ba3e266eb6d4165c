#!/usr/bin/env node
// The `finora-auth` executable: wires the command line to the real process (streams, environment, signals).

// First import: signals are caught before anything else loads.
import { cliSignals } from './cli-signals';
import { main } from './cli-main';

// A closed pipe (`finora-auth serve | head`) must not crash the gateway over a log line.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  now: Date.now,
  log: (where) => (where === 'stderr' ? process.stderr : process.stdout),
  signals: cliSignals,
}).then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`finora-auth: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
    process.exit(1);
  },
);
