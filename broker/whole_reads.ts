/**
 * Aedes reads each client connection with `conn.read()` (no size) once per
 * `'readable'` event and expects every buffered byte, as Node documents:
 * "If the size argument is not specified, all of the data contained in the
 * internal buffer will be returned." Deno 2's `node:stream` (checked with
 * 2.9.6) returns only the first buffered chunk instead. When a packet sits in
 * several chunks, the rest stays buffered and no further `'readable'` comes
 * until more bytes arrive, so a client that then waits for an answer waits
 * forever. mqtt.js over WebSocket sends its CONNECT as several small frames,
 * so under Deno no browser or `ws://` client could ever connect.
 *
 * `wholeReads(stream)` makes a size-less `read()` on that one stream return
 * the whole buffer, by concatenating the chunks the runtime hands out one at
 * a time. It is applied only where the runtime needs it (checked once, on a
 * throw-away stream, not by runtime name): under Node it returns the stream
 * untouched.
 *
 * @example
 * broker.handle(wholeReads(socket));
 */
import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';

type ReadFn = (size?: number | null) => unknown;

/** Whether this runtime's `Readable.read()` returns every buffered chunk (Node: yes; Deno 2.9: no). */
export const readReturnsWholeBuffer: boolean = (() => {
  const probe = new Readable({ read() {} });
  probe.push(Buffer.from('a'));
  probe.push(Buffer.from('b'));
  const got = probe.read() as Buffer | null;
  probe.destroy();
  return got?.length === 2;
})();

/** `stream`, with a size-less `read()` that returns all buffered bytes where the runtime does not. */
export function wholeReads<S extends Readable>(stream: S, needed: boolean = !readReturnsWholeBuffer): S {
  if (!needed) return stream;
  const read = stream.read as ReadFn;
  (stream as { read: ReadFn }).read = function (this: S, size?: number | null) {
    const first = read.call(this, size);
    if ((size !== undefined && size !== null) || !Buffer.isBuffer(first) || this.readableLength === 0) return first;
    const chunks: Buffer[] = [first];
    while (this.readableLength > 0) {
      const next = read.call(this);
      if (!Buffer.isBuffer(next)) break;
      chunks.push(next);
    }
    return Buffer.concat(chunks);
  };
  return stream;
}
