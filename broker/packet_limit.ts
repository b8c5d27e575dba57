/**
 * A cap on the size of MQTT packets a client may send, checked on the fixed
 * header as bytes arrive, before the packet is buffered: Aedes's parser
 * (mqtt-packet) holds a packet whole until its last byte, so without a cap
 * one client could make the broker buffer up to 256 MiB per connection.
 *
 * `limitPackets(stream, options)` wraps the size-less `read()` Aedes calls
 * (like whole_reads.ts) and reads each packet's remaining length as it goes
 * by; a packet over `maxBytes` destroys the connection and calls `onRefused`.
 */
import type { Readable } from 'node:stream';

export const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024;

/** Follows MQTT fixed headers through a byte stream. Pure. */
export class PacketSizes {
  #state: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;
  constructor(readonly maxBytes: number) {}

  /** Reads `chunk`; answers the declared size of a packet over the cap, or undefined. */
  feed(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'type') {
        i++;
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
      } else if (this.#state === 'length') {
        const b = chunk[i++];
        this.#length += (b & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        this.#lengthBytes++;
        if (b & 0x80 && this.#lengthBytes < 4) continue;
        if (this.#length > this.maxBytes) return this.#length;
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? 'type' : 'body';
      } else {
        const skip = Math.min(this.#remaining, chunk.length - i);
        i += skip;
        this.#remaining -= skip;
        if (this.#remaining === 0) this.#state = 'type';
      }
    }
    return undefined;
  }
}

type ReadFn = (size?: number | null) => unknown;

export function limitPackets<S extends Readable>(stream: S, options: { maxBytes: number; onRefused(size: number): void }): S {
  const sizes = new PacketSizes(options.maxBytes);
  const read = stream.read as ReadFn;
  (stream as { read: ReadFn }).read = function (this: S, size?: number | null) {
    const got = read.call(this, size);
    if (!(got instanceof Uint8Array)) return got;
    const over = sizes.feed(got);
    if (over === undefined) return got;
    options.onRefused(over);
    this.destroy();
    return null;
  };
  return stream;
}
