// Reading a token request's body: application/x-www-form-urlencoded, UTF-8, size-capped, each parameter at most once.

/** The largest token request body read; a client-credentials request is a few hundred bytes. */
export const MAX_FORM_BYTES = 8_192;

export type FormResult =
  | { ok: true; form: URLSearchParams }
  | { ok: false; status: 400 | 413 | 415; description: string };

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;
const decoder = new TextDecoder('utf-8', { fatal: true });
/** Parameter names an error may quote; any other name could be anything, even a pasted secret. */
const KNOWN = new Set(['grant_type', 'scope', 'client_id', 'client_secret']);

async function readCapped(request: Request): Promise<Uint8Array | undefined> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_FORM_BYTES) return undefined;
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_FORM_BYTES) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The request's form; RFC 6749 §3.2: a parameter sent twice makes the request invalid. */
export async function readForm(request: Request): Promise<FormResult> {
  if (!FORM_TYPE.test(request.headers.get('content-type') ?? '')) {
    return { ok: false, status: 415, description: 'the token request must be application/x-www-form-urlencoded' };
  }
  const body = await readCapped(request);
  if (body === undefined) return { ok: false, status: 413, description: `the token request body is over ${MAX_FORM_BYTES} bytes` };
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { ok: false, status: 400, description: 'the token request body is not UTF-8' };
  }
  const form = new URLSearchParams(text);
  const seen = new Set<string>();
  let repeated: string | undefined;
  form.forEach((_value, name) => {
    if (seen.has(name)) repeated ??= name;
    seen.add(name);
  });
  if (repeated !== undefined) {
    return { ok: false, status: 400, description: `the parameter ${KNOWN.has(repeated) ? repeated : '(not shown)'} is repeated` };
  }
  return { ok: true, form };
}
