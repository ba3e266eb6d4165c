// The one polling helper tests share: wait until a condition holds, and throw (never pass quietly) when it does not.

/**
 * Polls `check` every `everyMs` (default 10) until it returns true, resolving the time that took in ms; rejects
 * with an error naming the bound once `withinMs` has passed and the condition still does not hold. It never
 * resolves `false`: a condition that must not come true is a different test (wait for the event that rules it out).
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  withinMs: number,
  { everyMs = 10, what = 'condition' }: { everyMs?: number; what?: string } = {},
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started >= Math.max(withinMs, 0)) throw new Error(`${what} not met within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
