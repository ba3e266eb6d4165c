// The signals the `finora-auth` executable hands its command; imported first by cli.ts so they are caught first.

import { heldSignals, type Signals } from './signals';

/**
 * `serve` catches SIGTERM/SIGINT from the executable's first module on, so a signal while it loads its code or
 * opens the store still ends it gracefully (exit 0). Other commands keep Node's default: Ctrl-C ends them at once.
 */
export const cliSignals: Signals = process.argv[2] === 'serve' ? heldSignals(process) : process;
