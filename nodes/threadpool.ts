/**
 * Imported first by the Node entry point: every upload waits on fsyncs that
 * run in libuv's thread pool, and its default of 4 threads makes uploads queue
 * behind each other's fsyncs. Must run before the pool's first use.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
