// Prometheus counters and histograms for the gateway, rendered as text exposition format 0.0.4.

import type { DecisionEvent } from '@finora-auth/core';

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }
}

/** One label set's count, resolved once: `inc()` is a field update, with no label object or key built per call. */
export interface CounterSeries {
  inc(by?: number): void;
}

/** A monotonically increasing count per label set. Label values must come from small closed sets, never from input. */
export class Counter extends Metric {
  readonly #series = new Map<string, { labels: Labels; value: number; inc(by?: number): void }>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  /** The series for `labels`, created on first use; keep it to count without a lookup. */
  labels(labels: Labels = {}): CounterSeries {
    const id = Object.values(labels).join('\u0000');
    let series = this.#series.get(id);
    if (!series) {
      const created = {
        labels: { ...labels },
        value: 0,
        inc(by = 1) {
          created.value += by;
        },
      };
      series = created;
      this.#series.set(id, series);
    }
    return series;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.labels(labels).inc(by);
  }
  get(labels: Labels = {}): number {
    return this.#series.get(Object.values(labels).join('\u0000'))?.value ?? 0;
  }
  samples(): string[] {
    return [...this.#series.values()].map(({ labels, value }) => `${this.name}${renderLabels(labels)} ${value}`);
  }
}

/** A value read when scraped. */
export class Gauge extends Metric {
  constructor(
    name: string,
    help: string,
    private readonly read: () => number,
  ) {
    super(name, help, 'gauge');
  }
  samples(): string[] {
    return [`${this.name} ${this.read()}`];
  }
}

/** One label set's buckets, resolved once. */
export interface HistogramSeries {
  observe(seconds: number): void;
}

/** Cumulative buckets of observed values, in seconds. */
export class Histogram extends Metric {
  readonly #buckets: readonly number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number; observe(seconds: number): void }>();
  #unlabelled: HistogramSeries | undefined;
  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help, 'histogram');
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }
  /** The series for `labels`, created on first use; keep it to observe without a lookup. */
  labels(labels: Labels): HistogramSeries {
    const id = Object.values(labels).join('\u0000');
    let series = this.#series.get(id);
    if (!series) {
      const bounds = this.#buckets;
      const created = {
        labels: { ...labels },
        counts: bounds.map(() => 0),
        sum: 0,
        count: 0,
        observe(seconds: number) {
          for (let i = 0; i < bounds.length; i++) {
            if (seconds <= (bounds[i] as number)) {
              created.counts[i] = (created.counts[i] as number) + 1;
              break;
            }
          }
          created.sum += seconds;
          created.count += 1;
        },
      };
      series = created;
      this.#series.set(id, series);
    }
    return series;
  }
  observe(seconds: number, labels?: Labels): void {
    (labels ? this.labels(labels) : (this.#unlabelled ??= this.labels({}))).observe(seconds);
  }
  samples(): string[] {
    const lines: string[] = [];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      let cumulative = 0;
      this.#buckets.forEach((bound, i) => {
        cumulative += counts[i] as number;
        lines.push(`${this.name}_bucket${renderLabels({ ...labels, le: String(bound) })} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${renderLabels({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${renderLabels(labels)} ${sum}`);
      lines.push(`${this.name}_count${renderLabels(labels)} ${count}`);
    }
    return lines;
  }
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const UPSTREAM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Everything `/metrics` reports. Every label value comes from a closed set: no key, path or header ever becomes a label. */
export class GatewayMetrics {
  readonly decisions = new Counter(
    'finora_auth_decisions_total',
    'Authentication decisions, by outcome, refusal code and reason.',
  );
  readonly cache = new Counter(
    'finora_auth_cache_lookups_total',
    'Key lookups by how the cache served them (hit, miss, negative-hit, stale).',
  );
  readonly probableLeaks = new Counter(
    'finora_auth_probable_leaks_total',
    'Live keys presented with an Origin header, i.e. from a browser.',
  );
  readonly storeLookups = new Histogram(
    'finora_auth_store_lookup_duration_seconds',
    'Time the key store took to answer one key lookup, by result.',
    STORE_BUCKETS,
  );
  readonly upstream = new Histogram(
    'finora_auth_upstream_duration_seconds',
    'Time from sending a request upstream to receiving its response headers.',
    UPSTREAM_BUCKETS,
  );
  readonly upstreamErrors = new Counter(
    'finora_auth_upstream_errors_total',
    'Proxied requests that got no upstream response, by kind (unavailable, timeout, aborted).',
  );
  readonly requests = new Counter('finora_auth_http_requests_total', 'HTTP responses sent, by status class.');
  readonly #gauges: Gauge[] = [];
  readonly #all: Metric[];

  constructor(inFlight: () => number = () => 0) {
    this.#gauges.push(new Gauge('finora_auth_http_requests_in_flight', 'Requests being handled now.', inFlight));
    this.#all = [
      this.decisions,
      this.cache,
      this.probableLeaks,
      this.storeLookups,
      this.upstream,
      this.upstreamErrors,
      this.requests,
      ...this.#gauges,
    ];
  }

  // Series resolved once per label value, so counting a request builds no label object or key.
  readonly #byReason = new Map<string, CounterSeries>();
  readonly #byCache = new Map<string, CounterSeries>();
  readonly #byStatus = new Map<number, CounterSeries>();
  #leaks: CounterSeries | undefined;

  /** Feeds one core decision event in. Only closed-set fields are read; the key hint and ids are not. */
  recordDecision(event: DecisionEvent): void {
    // The reason decides the outcome and the code, so it alone names the series.
    let decided = this.#byReason.get(event.reason);
    if (!decided) {
      decided = this.decisions.labels({ outcome: event.outcome, code: event.code ?? 'OK', reason: event.reason });
      this.#byReason.set(event.reason, decided);
    }
    decided.inc();
    if (event.cache !== 'none') {
      let cached = this.#byCache.get(event.cache);
      if (!cached) {
        cached = this.cache.labels({ result: event.cache });
        this.#byCache.set(event.cache, cached);
      }
      cached.inc();
    }
    if (event.probableLeak) (this.#leaks ??= this.probableLeaks.labels()).inc();
  }

  recordResponse(status: number): void {
    const hundred = status >= 100 && status < 600 ? Math.floor(status / 100) : 0;
    let series = this.#byStatus.get(hundred);
    if (!series) {
      series = this.requests.labels({ status_class: hundred === 0 ? 'other' : (STATUS_CLASSES[hundred] as string) });
      this.#byStatus.set(hundred, series);
    }
    series.inc();
  }

  render(): string {
    return `${this.#all.map((metric) => metric.render()).join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
