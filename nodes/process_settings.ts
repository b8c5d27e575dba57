/**
 * Process settings for the Node entry point, imported before anything else:
 * every upload waits on fsyncs that run in libuv's thread pool, and its
 * default of 4 threads makes uploads queue behind each other's fsyncs. Must be
 * set before the pool's first use.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
