// A small text/event-stream parser (the WHATWG "event stream interpretation", without ids and retry): bytes in, events out.

export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Feeds decoded text in; calls `onMessage` per dispatched event. A line longer than `maxLineLength` is a fault
 * (thrown), so a stream that never ends a line cannot grow memory without bound.
 */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #pendingCr = false;

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly maxLineLength = 65_536,
  ) {}

  push(text: string): void {
    let chunk = text;
    // A CRLF split across two chunks: the LF was already ended by the CR.
    if (this.#pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.#pendingCr = false;
    this.#buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      if (match[0] === '\r' && this.#buffer === '') this.#pendingCr = true;
      this.#line(line);
    }
    if (this.#buffer.length > this.maxLineLength) throw new Error('event stream line too long');
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0 || this.#event !== '') {
        this.onMessage({ event: this.#event || 'message', data: this.#data.join('\n') });
      }
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment: the heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
  }
}
