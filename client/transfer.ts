/**
 * Transfers that outlive a node: a download whose connection breaks (or
 * stalls) resumes from the byte it reached at another node holding the same
 * version (`Range` + `If-Range`, the answer's `ETag` checked), and the whole
 * is verified against the SHA-256 the first answer announced; upload bodies
 * that can be sent again when their node fails before answering.
 */
import { DigestMismatchError } from './errors.ts';
import { readContentDigest } from '../protocol/content_digest.ts';
import { unquoteEtag } from './records.ts';
import type { BodySource } from './sender.ts';
import { createSha256 } from './sha256.ts';
import type { PutBody } from './types.ts';

/** Bodies above this are sent as streams, so a stalled upload is noticed chunk by chunk. */
const STREAM_ABOVE = 1024 * 1024;
const CHUNK = 256 * 1024;
/** A download gives up after this many resumptions. */
const MAX_RESUMES = 8;

/** Where a download stands when its connection breaks. */
export interface BreakPoint {
  /** Bytes of the body delivered so far. */
  offset: number;
  error: unknown;
}

export interface ResumableOptions {
  /** Bytes the body should have in all (`Content-Length`). */
  length: number | undefined;
  /** Expected SHA-256 of the whole body, hex; checked at the end when given. */
  sha256?: string | null;
  /** Deadline between two chunks; `arm(ms)` is the current request's deadline control. */
  stallMs: number;
  /**
   * Opens the rest of the body from `offset` at another node: resolves to a
   * reader positioned at `offset`, its deadline control, and `finish`.
   */
  reopen(at: BreakPoint): Promise<BodyPart>;
  signal?: AbortSignal;
}

export interface BodyPart {
  body: ReadableStream<Uint8Array>;
  /** Re-arms the request's deadline; `undefined` stops it. */
  arm(ms: number | undefined, what: string): void;
  /** The request is done (counts, timers). */
  finish(): void;
  /** Bytes at the start of `body` to drop (a node answered 200 to a range). */
  skip?: number;
}

/**
 * A body that resumes elsewhere when its connection fails before `length`
 * bytes, and errors with `DigestMismatchError` if the bytes do not hash to
 * `sha256`.
 */
export function resumableBody(first: BodyPart, options: ResumableOptions): ReadableStream<Uint8Array> {
  let part = first;
  let reader = part.body.getReader();
  let skip = part.skip ?? 0;
  let offset = 0;
  let resumes = 0;
  const hashing = options.sha256 ? createSha256() : Promise.resolve(undefined);
  const stalled = `the download stalled: no bytes`;

  const next = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    for (;;) {
      part.arm(options.stallMs, stalled);
      try {
        const result = await reader.read();
        // Only waiting for the node counts: a slow consumer is not a stalled node.
        part.arm(undefined, '');
        if (!result.done && skip > 0) {
          const drop = Math.min(skip, result.value.byteLength);
          skip -= drop;
          if (drop === result.value.byteLength) continue;
          return { done: false, value: result.value.subarray(drop) };
        }
        if (result.done && options.length !== undefined && offset < options.length) {
          throw new Error(`the connection ended at byte ${offset} of ${options.length}`);
        }
        return result;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason ?? err;
        part.finish();
        reader.cancel().catch(() => {});
        if (++resumes > MAX_RESUMES) throw err;
        part = await options.reopen({ offset, error: err });
        reader = part.body.getReader();
        skip = part.skip ?? 0;
      }
    }
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const hash = await hashing;
      const result = await next();
      if (result.done) {
        part.finish();
        const expected = options.sha256?.toLowerCase();
        if (hash && expected) {
          const actual = hash.digestHex();
          if (actual !== expected) throw new DigestMismatchError('the download', { expected, actual });
        }
        controller.close();
        return;
      }
      offset += result.value.byteLength;
      hash?.update(result.value);
      controller.enqueue(result.value);
    },
    async cancel(reason) {
      part.finish();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Version and SHA-256 a `GET` answer announces for what it sends. */
export function describedBy(res: Response): { version: string; sha256: string | null; length: number | undefined } {
  const length = res.headers.get('content-length');
  return {
    version: unquoteEtag(res.headers.get('etag')),
    // A range or compressed answer's digest (if any) does not cover the whole file.
    sha256: res.status === 200 && !res.headers.get('content-encoding') ? readContentDigest(res.headers.get('content-digest')) : null,
    length: length === null || !/^\d+$/.test(length) ? undefined : Number(length),
  };
}

/** Where a `206` answer starts (`Content-Range: bytes S-E/T`), or undefined. */
export function rangeStart(res: Response): number | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A request body that knows whether it can be sent again. */
export function bodySource(body: PutBody, size?: number): BodySource {
  if (typeof body === 'string') body = new TextEncoder().encode(body);
  if (body instanceof Uint8Array) {
    const bytes = body;
    if (bytes.byteLength <= STREAM_ABOVE) return { open: () => bytes as BodyInit, size: bytes.byteLength, replayable: true, touched: false };
    return { open: () => chunked(bytes), size: bytes.byteLength, replayable: true, touched: false };
  }
  if (body instanceof Blob) {
    const blob = body;
    if (blob.size <= STREAM_ABOVE) return { open: () => blob, size: blob.size, replayable: true, touched: false };
    return { open: () => blob.stream() as ReadableStream<Uint8Array>, size: blob.size, replayable: true, touched: false };
  }
  if (typeof body === 'function') {
    const make = body;
    return { open: () => make(), size, replayable: true, touched: false };
  }
  // A plain stream: once only, but still fresh if an attempt never read from it.
  const stream = body;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let touched = false;
  return {
    open() {
      if (touched) throw new Error('Cannot send a stream body twice');
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          touched = true;
          reader ??= stream.getReader();
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
      }, { highWaterMark: 0 });
    },
    size,
    replayable: false,
    get touched() {
      return touched;
    },
  };
}

function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      const end = Math.min(at + CHUNK, bytes.byteLength);
      controller.enqueue(bytes.subarray(at, end));
      at = end;
    },
  }, { highWaterMark: 0 });
}
