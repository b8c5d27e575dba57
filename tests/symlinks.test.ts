/** Symbolic links in the files folder are never followed, for writes or reads (nodes/layout.ts refuseLinks, O_NOFOLLOW). */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rawRequest } from './_support/http.ts';
import { realNode } from './_support/real_node.ts';
import { tempDir } from './_support/temp.ts';

test('a PUT under a folder that is a link out of the files folder is refused and writes nothing there', async () => {
  const { node, close } = await realNode();
  const outside = tempDir('outside');
  try {
    await symlink(outside.path, join(node.store.filesDir, 'escape'));
    const put = await rawRequest(node.url, { method: 'PUT', target: '/files/escape/planted.txt', body: 'x', headers: { 'content-length': '1' } });
    assert.is(put.status, 409, put.body.toString());
    assert.match(put.json.message, /symbolic link/);
    assert.not.ok(existsSync(join(outside.path, 'planted.txt')));
    const deep = await rawRequest(node.url, { method: 'PUT', target: '/files/escape/a/b.txt', body: 'y', headers: { 'content-length': '1' } });
    assert.is(deep.status, 409);
    assert.not.ok(existsSync(join(outside.path, 'a')));
  } finally {
    await close();
    outside.cleanup();
  }
});

test('a GET of a file whose folder or itself became a link reads nothing through it', async () => {
  const { node, close } = await realNode();
  const outside = tempDir('outside');
  try {
    const big = 'b'.repeat(200_000); // over the small-file cache, so the read goes to the disk
    for (const target of ['/files/docs/secret.txt', '/files/plain.txt']) {
      assert.is((await rawRequest(node.url, { method: 'PUT', target, body: big, headers: { 'content-length': String(big.length) } })).status, 201);
    }
    await writeFile(join(outside.path, 'secret.txt'), 'b'.repeat(200_000));
    await mkdir(join(node.store.filesDir, 'moved'));
    const { rename } = await import('node:fs/promises');
    await rename(join(node.store.filesDir, 'docs'), join(node.store.filesDir, 'moved', 'docs'));
    await symlink(outside.path, join(node.store.filesDir, 'docs'));
    const viaFolder = await rawRequest(node.url, { target: '/files/docs/secret.txt' });
    assert.is(viaFolder.status, 409, `read through a linked folder: ${viaFolder.status}`);
    await rename(join(node.store.filesDir, 'plain.txt'), join(node.store.filesDir, 'moved', 'plain.txt'));
    await symlink(join(outside.path, 'secret.txt'), join(node.store.filesDir, 'plain.txt'));
    const viaFile = await rawRequest(node.url, { target: '/files/plain.txt' });
    assert.not.equal(viaFile.status, 200, 'read through a linked file');
    assert.is(readFileSync(join(outside.path, 'secret.txt'), 'utf8').length, 200_000);
  } finally {
    await close();
    outside.cleanup();
  }
});

test.run();
