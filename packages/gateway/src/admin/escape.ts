// The console's one escaping function, and the `html` template tag that applies it to every interpolated value.

/** Characters that would let text become markup or break out of a quoted attribute. */
const MARKUP: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/**
 * Characters shown as a visible `\u{…}` escape instead of themselves: C0 and C1 controls and DEL, bidirectional
 * embeddings, overrides and isolates (U+202A-202E, U+2066-2069), the marks (U+200E, U+200F, U+061C), zero-width
 * characters, line and paragraph separators, and the BOM. A key named with a right-to-left override cannot
 * reorder the text around it, and an invisible character cannot make two names look alike.
 */
const INERT = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;
const SPECIAL = /[&<>"'`]/g;

/** Escapes any value for HTML text or a double-quoted attribute, rendering control and bidi characters inert. */
export function escapeHtml(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return text
    .replace(SPECIAL, (char) => MARKUP[char] as string)
    .replace(INERT, (char) => `\\u{${(char.codePointAt(0) as number).toString(16).toUpperCase()}}`);
}

/** Markup already escaped (the result of {@link html}); the only thing {@link html} inserts unchanged. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = SafeHtml | string | number | boolean | undefined | null | readonly Part[];

function render(part: Part): string {
  if (part instanceof SafeHtml) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part === false || part === true) return '';
  return escapeHtml(part);
}

/** A template tag: every interpolation is escaped with {@link escapeHtml} unless it is {@link SafeHtml}; arrays join. */
export function html(strings: TemplateStringsArray, ...parts: Part[]): SafeHtml {
  let out = strings[0] as string;
  for (let i = 0; i < parts.length; i++) out += render(parts[i] as Part) + (strings[i + 1] as string);
  return new SafeHtml(out);
}
