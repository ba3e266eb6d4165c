// Catching SIGTERM/SIGINT from the first line of `finora-auth serve`, before `serve` is loaded and listens for them.

/** The part of `process` that `serve` uses to hear SIGTERM and SIGINT. */
export interface Signals {
  on(signal: 'SIGTERM' | 'SIGINT', handler: () => void): unknown;
}

type Name = 'SIGTERM' | 'SIGINT';

/**
 * Listens on `target` at once, and holds every signal that arrives before a handler for it is registered, then
 * delivers them, in order, as soon as one is. Without this, a Ctrl-C while `serve` loads its modules or opens
 * the store would find no listener and kill the process (exit by signal, not 0).
 */
export function heldSignals(target: Signals): Signals {
  const handlers: Record<Name, (() => void)[]> = { SIGTERM: [], SIGINT: [] };
  const held: Name[] = [];
  const deliver = (signal: Name) => {
    if (handlers[signal].length === 0) {
      held.push(signal);
      return;
    }
    for (const handler of handlers[signal]) handler();
  };
  target.on('SIGTERM', () => deliver('SIGTERM'));
  target.on('SIGINT', () => deliver('SIGINT'));
  return {
    on(signal, handler) {
      handlers[signal].push(handler);
      // Delivered later, not inside on(): the caller may be registering its other handler next.
      for (let i = 0; i < held.length; i++) {
        if (held[i] !== signal) continue;
        held.splice(i--, 1);
        queueMicrotask(handler);
      }
      return this;
    },
  };
}
