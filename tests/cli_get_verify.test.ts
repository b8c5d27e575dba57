/**
 * `nuvem get` verifies what it saves against the record even when the answer
 * carries no Content-Digest, and prints names from nodes without their
 * control characters. A proxy in front of a real node plays the node that
 * strips the digest and corrupts the bytes.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { terminalSafe } from '../protocol/errors.ts';
import { rawRequest } from './_support/http.ts';
import { realNode } from './_support/real_node.ts';
import { tempDir } from './_support/temp.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Forwards to `target`; GET /files/… answers lose their Content-Digest and, with `corrupt`, their first byte. */
function digestStrippingProxy(target: string, options: { corrupt: boolean }): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const upstream = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        let body = Buffer.concat(chunks);
        const headers = { ...up.headers };
        if (req.url === '/status') {
          const status = JSON.parse(body.toString());
          status.url = url; // clients must come back through the proxy
          body = Buffer.from(JSON.stringify(status));
        }
        if (req.method === 'GET' && req.url?.startsWith('/files/') && up.statusCode === 200) {
          delete headers['content-digest'];
          if (options.corrupt && body.length > 0) body[0] ^= 0xff;
        }
        headers['content-length'] = String(body.length);
        res.writeHead(up.statusCode ?? 502, headers);
        res.end(body);
      });
    });
    req.pipe(upstream);
  });
  let url = '';
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    resolve({ url, server });
  }));
}

function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/nuvem.js'), ...args], { cwd, env: { ...process.env, NUVEM_TOKEN: '', NUVEM_BROKER: '', NUVEM_NODES: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const corrupt of [true, false]) {
  test(`get without a Content-Digest: ${corrupt ? 'corrupt bytes are refused and nothing is saved' : 'whole bytes are verified by the record and saved'}`, async () => {
    const { node, close } = await realNode();
    const proxy = await digestStrippingProxy(node.url, { corrupt });
    const dir = tempDir('get-verify');
    try {
      const body = 'the bytes the cluster recorded';
      assert.is((await rawRequest(node.url, { method: 'PUT', target: '/files/doc.txt', body, headers: { 'content-length': String(body.length) } })).status, 201);
      const run = await cli(['get', 'doc.txt', 'copy.txt', '--nodes', proxy.url], dir.path);
      if (corrupt) {
        assert.is(run.code, 1, run.stderr);
        assert.match(run.stderr, /sha-?256|digest/i);
        assert.not.ok(existsSync(join(dir.path, 'copy.txt')));
        assert.equal(readdirSync(dir.path), []); // no temp file left either
      } else {
        assert.is(run.code, 0, run.stderr);
        assert.ok(existsSync(join(dir.path, 'copy.txt')));
      }
    } finally {
      proxy.server.close();
      await close();
      dir.cleanup();
    }
  });
}

test('terminal output escapes control characters but keeps lines and tabs', () => {
  assert.is(terminalSafe('a\u001b]0;pwned\u0007b\n\tc\u009bd'), 'a\\x1b]0;pwned\\x07b\n\tc\\x9bd');
});

test.run();
