/**
 * Keeps the bytes of small current files in memory, least recently used out
 * first, so small reads skip the disk and the stream machinery. Entries are
 * keyed by path and carry the version they hold; a stale one is never served.
 */
export class SmallFileCache {
  #map = new Map<string, { version: string; bytes: Uint8Array }>();
  #bytes = 0;
  readonly maxFileBytes: number;
  readonly #maxBytes: number;

  constructor(options: { maxFileBytes: number; maxBytes: number }) {
    this.maxFileBytes = options.maxFileBytes;
    this.#maxBytes = options.maxBytes;
  }

  get(path: string, version: string): Uint8Array | undefined {
    const hit = this.#map.get(path);
    if (!hit) return undefined;
    if (hit.version !== version) {
      this.delete(path);
      return undefined;
    }
    this.#map.delete(path);
    this.#map.set(path, hit);
    return hit.bytes;
  }

  set(path: string, version: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.maxFileBytes || this.#maxBytes === 0) return;
    // A view into a bigger buffer (a network read) would keep all of it alive: keep a copy.
    if (bytes.byteLength !== bytes.buffer.byteLength) bytes = new Uint8Array(bytes);
    this.delete(path);
    this.#map.set(path, { version, bytes });
    this.#bytes += bytes.byteLength;
    for (const [key, value] of this.#map) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#map.delete(key);
      this.#bytes -= value.bytes.byteLength;
    }
  }

  delete(path: string): void {
    const hit = this.#map.get(path);
    if (!hit) return;
    this.#map.delete(path);
    this.#bytes -= hit.bytes.byteLength;
  }
}
