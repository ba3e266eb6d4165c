// An account's usage per UTC day as an inline SVG bar chart (live and test apart) with credits spent, drawn on the server.

import type { UsageRow } from '@finora-auth/core';
import { html, type SafeHtml } from './escape';

const DAY_MS = 86_400_000;
const WIDTH = 720;
const HEIGHT = 220;
const PAD = { left: 44, right: 8, top: 12, bottom: 28 };

interface Day {
  day: string;
  live: number;
  test: number;
  credits: number;
}

/** Sums rows per day over the `days` UTC days ending today, days without usage included as zeros. */
export function usageByDay(rows: readonly UsageRow[], days: number, now: number): Day[] {
  const byDay = new Map<string, Day>();
  const end = Math.floor(now / DAY_MS) * DAY_MS;
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(end - i * DAY_MS).toISOString().slice(0, 10);
    byDay.set(day, { day, live: 0, test: 0, credits: 0 });
  }
  for (const row of rows) {
    const day = byDay.get(row.day);
    if (!day) continue;
    day[row.environment] += row.allowed;
    day.credits += row.creditsSpent;
  }
  return [...byDay.values()];
}

export function usageChart(rows: readonly UsageRow[], days: number, now: number): SafeHtml {
  const series = usageByDay(rows, days, now);
  const total = series.reduce((sum, d) => ({ live: sum.live + d.live, test: sum.test + d.test, credits: sum.credits + d.credits }), {
    live: 0,
    test: 0,
    credits: 0,
  });
  const max = Math.max(1, ...series.map((d) => Math.max(d.live, d.test)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / series.length;
  const bar = Math.max(1, (slot - 2) / 2);
  const y = (value: number) => PAD.top + plotH - (value / max) * plotH;
  const bars = series.map((d, i) => {
    const x = PAD.left + i * slot + 1;
    const title = `${d.day}: ${d.live} live, ${d.test} test, ${d.credits} credits`;
    return html`<g><title>${title}</title><rect x="${x.toFixed(1)}" y="${y(d.live).toFixed(1)}" width="${bar.toFixed(1)}" height="${(PAD.top + plotH - y(d.live)).toFixed(1)}" fill="#c2410c"/><rect x="${(x + bar).toFixed(1)}" y="${y(d.test).toFixed(1)}" width="${bar.toFixed(1)}" height="${(PAD.top + plotH - y(d.test)).toFixed(1)}" fill="#0b5cad"/></g>`;
  });
  const labels = series
    .map((d, i) => ({ d, i }))
    .filter(({ i }) => (series.length - 1 - i) % 7 === 0)
    .map(({ d, i }) => html`<text x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${HEIGHT - 8}" font-size="11" text-anchor="middle" fill="#5b6675">${d.day.slice(5)}</text>`);
  const summary = `Last ${days} days: ${total.live} live requests, ${total.test} test requests, ${total.credits} credits spent.`;
  const busy = series.filter((d) => d.live + d.test + d.credits > 0);
  return html`<section aria-labelledby="usage-h"><h2 id="usage-h">Usage</h2>
<p>${summary}</p>
<div class="legend"><span><span class="swatch live"></span>live</span><span><span class="swatch test"></span>test</span></div>
<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${summary}" xmlns="http://www.w3.org/2000/svg">
<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}" stroke="#9aa4b1"/>
<text x="${PAD.left - 6}" y="${PAD.top + 10}" font-size="11" text-anchor="end" fill="#5b6675">${max}</text>
<text x="${PAD.left - 6}" y="${PAD.top + plotH}" font-size="11" text-anchor="end" fill="#5b6675">0</text>
${bars}${labels}
</svg>
${
  busy.length
    ? html`<details><summary>By day</summary><div class="table-wrap"><table><thead><tr><th scope="col">Day (UTC)</th><th scope="col">Live</th><th scope="col">Test</th><th scope="col">Credits spent</th></tr></thead><tbody>${busy.map(
        (d) => html`<tr><td>${d.day}</td><td>${d.live}</td><td>${d.test}</td><td>${d.credits}</td></tr>`,
      )}</tbody></table></div></details>`
    : ''
}</section>`;
}
