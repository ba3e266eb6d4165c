// The responses and connections the gateway tracks while they are open, in lists threaded through the objects.

const PREV = Symbol('finora-auth.tracked.prev');
const NEXT = Symbol('finora-auth.tracked.next');
const OWNER = Symbol('finora-auth.tracked.owner');

type Linked = { [PREV]?: Linked | null; [NEXT]?: Linked | null; [OWNER]?: Tracked<object> | null };

/**
 * A set of objects as a doubly linked list through symbol-keyed fields of the objects themselves, with O(1) add
 * and delete and no table of its own. Not a `Set`: a Set that gains and loses an entry on every request keeps
 * replacing its hash table, and each replaced table still points at the objects it held. Once such a table is
 * in the old generation, the garbage collector's quick young-generation passes treat those objects as live, so
 * every request's objects were promoted and left to full collections (measured under load: about 5 KB promoted
 * per request, and four times the time in GC). Here a removed object is unlinked and nothing points at it.
 * An object is in at most one Tracked at a time.
 */
export class Tracked<T extends object> implements Iterable<T> {
  #head: Linked | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(item: T): void {
    const node = item as Linked;
    if (node[OWNER] === this) return;
    if (node[OWNER]) throw new Error('finora-auth: an object is tracked twice');
    node[OWNER] = this;
    node[PREV] = null;
    node[NEXT] = this.#head;
    if (this.#head) this.#head[PREV] = node;
    this.#head = node;
    this.#size += 1;
  }

  delete(item: T): void {
    const node = item as Linked;
    if (node[OWNER] !== this) return;
    const prev = node[PREV] ?? null;
    const next = node[NEXT] ?? null;
    if (prev) prev[NEXT] = next;
    else this.#head = next;
    if (next) next[PREV] = prev;
    node[PREV] = null;
    node[NEXT] = null;
    node[OWNER] = null;
    this.#size -= 1;
  }

  /** Safe while the loop body deletes the item it is given. */
  *[Symbol.iterator](): Iterator<T> {
    let node = this.#head;
    while (node) {
      const next = node[NEXT] ?? null;
      yield node as T;
      node = next;
    }
  }
}
