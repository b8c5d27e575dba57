/**
 * A node process under Node reports its resources in every heartbeat
 * (DESIGN.md section 4): `cpu`, `load`, `mem`, `disk`, plausible for this
 * machine, and its traffic counters move with requests; `nuvem status`
 * shows them. (The same under Deno: tests/deno.test.ts.)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBroker } from '../broker/mod.ts';
import { watchTopics } from './_support/mqtt_watch.ts';
import { assertPlausibleResources } from './_support/resources_check.ts';
import { REPO_ROOT, startNodeProcess } from './_support/node_process.ts';
import { tempDir } from './_support/temp.ts';

test('a node under Node: cpu, load, mem and disk in every heartbeat; its counters move; nuvem status shows them', async () => {
  const broker = await startBroker({ port: 0, wsPort: false });
  const dir = tempDir('heartbeat');
  const node = await startNodeProcess({ dataDir: dir.path, args: ['--id', 'beat', '--broker', broker.mqttUrl] });
  const watch = await watchTopics(broker.mqttUrl, ['nuvem/nodes/+/status']);
  try {
    const first = await watch.waitFor((m) => m.json?.id === 'beat' && m.json?.state === 'online', { timeoutMs: 10_000, what: 'a heartbeat of beat' });
    assertPlausibleResources(first.json, 'first heartbeat');
    const since = watch.seen.length;
    const put = await fetch(`${node.url}/files/beat.txt`, { method: 'PUT', body: 'z'.repeat(4000) });
    assert.is(put.status, 201);
    assert.is((await (await fetch(`${node.url}/files/beat.txt`)).text()).length, 4000);
    const later = await watch.waitFor(
      (m) => m.json?.id === 'beat' && m.json.traffic?.in >= first.json.traffic.in + 4000 && m.json.traffic?.out >= first.json.traffic.out + 4000,
      { since, timeoutMs: 5000, what: 'a heartbeat counting the upload and the download' },
    );
    assertPlausibleResources(later.json, 'later heartbeat');
    assert.ok(later.json.requests >= first.json.requests + 2, `requests ${first.json.requests} → ${later.json.requests}`);

    const status = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'client', 'cli.ts'), 'status', '--broker', broker.mqttUrl], { cwd: REPO_ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.is(status.code, 0, status.stderr);
    const [header, row] = status.stdout.split('\n');
    assert.match(header, /\bCPU\s+LOAD\s+MEMORY\s+URL$/);
    assert.match(row, /^beat\s+online\s.*\s\d+%\s+\d+\.\d\d\s+[\d.]+ MiB \([\d.]+ [GMT]iB free of [\d.]+ [GMT]iB\)\s+http:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    await watch.close();
    await node.stop();
    await broker.close();
    dir.cleanup();
  }
});

test.run();
