// Proves the invalidation channel live end to end: a tiny message sent through it every interval must come back
// within a bound, else the channel is reported silent (and, after twice the bound, lost). Shared by the Redis and
// PostgreSQL stores; timers and performance.now() only, so it runs wherever core does.

export interface HeartbeatOptions {
  /** How often a heartbeat is sent, in ms. */
  intervalMs: number;
  /** A channel none of whose heartbeats sent in the last `timeoutMs` came back is silent. */
  timeoutMs: number;
  /** Sends one heartbeat carrying `payload`; settles when the send is done or failed (it must not reject). */
  send(payload: string): Promise<void>;
  /** No heartbeat sent in the last `timeoutMs` has come back: stop trusting what the channel has not said. */
  onSilent(): void;
  /** A heartbeat came back after a silence. */
  onHeard(): void;
  /** Still nothing after `2 × timeoutMs`: the connection is taken for dead and should be replaced. */
  onLost(): void;
}

const clock = () => performance.now();
// setTimeout fires at once for a delay past this; a bound that long simply waits the most it can.
const MAX_DELAY_MS = 2 ** 31 - 1;
const delay = (ms: number) => Math.min(MAX_DELAY_MS, Math.max(0, ms));
// Under Node a timer must not keep the process alive; elsewhere a timer is a number and there is nothing to do.
const unref = (timer: unknown) => (timer as { unref?: () => void }).unref?.();

export class Heartbeat {
  readonly #options: HeartbeatOptions;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /**
   * When the newest heartbeat that came back was sent (this process's monotonic clock). Messages on one
   * connection arrive in the order the server handled them, so everything published before then has arrived.
   */
  #provenAt = 0;
  #sending = false;
  #silent = false;
  #running = false;

  constructor(options: HeartbeatOptions) {
    this.#options = options;
  }

  /** Starts beating from a channel known good now (it was just subscribed); restarts if already running. */
  start(): void {
    this.stop();
    this.#running = true;
    this.#provenAt = clock();
    this.#silent = false;
    this.#ticker = setInterval(() => this.#beat(), this.#options.intervalMs);
    unref(this.#ticker);
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    clearInterval(this.#ticker);
    clearTimeout(this.#deadline);
    this.#ticker = undefined;
    this.#deadline = undefined;
  }

  /** A heartbeat arrived with this payload (the send time it carried). */
  receive(payload: string): void {
    const sentAt = Number(payload);
    if (!this.#running || !Number.isFinite(sentAt) || sentAt <= this.#provenAt || sentAt > clock()) return;
    this.#provenAt = sentAt;
    this.#arm();
    if (this.#silent) {
      this.#silent = false;
      this.#options.onHeard();
    }
  }

  #beat(): void {
    // One heartbeat in flight at most: a stalled connection does not pile them up.
    if (this.#sending) return;
    this.#sending = true;
    this.#options.send(String(clock())).finally(() => {
      this.#sending = false;
    });
  }

  /** One timer, re-armed on each heartbeat heard, fires when the newest proof gets too old. */
  #arm(): void {
    clearTimeout(this.#deadline);
    const { timeoutMs } = this.#options;
    const silentIn = this.#provenAt + timeoutMs - clock();
    this.#deadline = setTimeout(() => this.#expire(), delay(silentIn));
    unref(this.#deadline);
  }

  #expire(): void {
    if (!this.#running) return;
    const { timeoutMs } = this.#options;
    const silence = clock() - this.#provenAt;
    if (!this.#silent) {
      this.#silent = true;
      this.#options.onSilent();
      if (!this.#running) return;
    }
    if (silence >= 2 * timeoutMs) {
      this.stop();
      this.#options.onLost();
      return;
    }
    this.#deadline = setTimeout(() => this.#expire(), delay(this.#provenAt + 2 * timeoutMs - clock()));
    unref(this.#deadline);
  }
}
