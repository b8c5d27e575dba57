/**
 * A node (same options as nodes/main.ts) whose index WAL fsync fails with
 * EIO once the file `fail-wal` exists in its data folder: the seam for the
 * fsyncgate test (a real failing disk cannot be had on demand).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseNodeArgs } from '../../nodes/config.ts';
import { fsyncPath } from '../../nodes/disk.ts';
import { nodeRuntime } from '../../nodes/http_node.ts';
import { startNode } from '../../nodes/mod.ts';

const config = parseNodeArgs(process.argv.slice(2), process.env);
const trip = join(config.dataDir, 'fail-wal');
const node = await startNode(config, nodeRuntime(), {
  syncWal: async (wal) => {
    if (existsSync(trip)) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    await fsyncPath(wal, { dataOnly: true });
  },
});
process.once('SIGTERM', () => void node.stop().then(() => process.exit(0)));
