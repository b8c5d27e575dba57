/**
 * V8 flags a node process is started with (`npm start` spells them out too; the benchmarks): file
 * bodies pass through as short-lived 64 KiB chunks, and a small young
 * generation collects them sooner, keeping memory flat (about 35 MiB less at
 * peak under load, same throughput). `--expose-gc` lets long writes collect
 * the buffers of the bytes they have written (disk.ts: COLLECT_BYTES).
 */
export const NODE_FLAGS = ['--max-semi-space-size=2', '--expose-gc'];

/**
 * Environment a node process is started with. With 16 thread-pool threads
 * (process_settings.ts) glibc gives up to 16 malloc arenas, each keeping the
 * memory it once held; two arenas keep a node about 8 MiB smaller under load
 * at the same speed.
 */
export const NODE_ENV: Record<string, string> = { MALLOC_ARENA_MAX: '2' };
