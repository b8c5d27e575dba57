// The change log (nodes/change_log.ts) on real temp folders: JSON lines with
// every field, order kept under many concurrent appends, lines on disk at
// once for `tail -f`, rotation that keeps exactly three old files, close()
// that flushes, and errors that are logged once and never thrown.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChangeLog, changeType, type ChangeEntry } from '../nodes/change_log.ts';

const folders: string[] = [];
process.once('exit', () => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** A fresh `DATA/` with no `.nuvem/` yet: the log creates it. */
function tempData(): { data: string; folder: string } {
  const data = mkdtempSync(join(tmpdir(), 'nuvem-changelog-'));
  folders.push(data);
  return { data, folder: join(data, '.nuvem') };
}

function entry(n: number, extra: Partial<ChangeEntry> = {}): ChangeEntry {
  return {
    type: 'created',
    path: `docs/file-${n}.txt`,
    kind: 'file',
    size: n,
    sha256: 'ab'.repeat(32),
    source: 'api',
    version: `v${String(n).padStart(8, '0')}`,
    ...extra,
  };
}

function readLines(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

test('each change is one JSON line with its fields, in a fixed order', async () => {
  const { folder } = tempData();
  const log = new ChangeLog({ folder });
  log.append(entry(1));
  const moved: ChangeEntry = {
    type: 'moved',
    path: 'b/new.txt',
    from: 'a/old.txt',
    kind: 'file',
    size: 3,
    sha256: 'cd'.repeat(32),
    source: 'folder',
    version: 'v2',
  };
  const deleted: ChangeEntry = { type: 'deleted', path: 'gone', kind: 'folder', source: 'peer:node-b', version: 'v3' };
  log.append(moved);
  log.append(deleted);
  await log.close();
  const text = readFileSync(join(folder, 'change_log.jsonl'), 'utf8');
  const lines = readLines(join(folder, 'change_log.jsonl'));
  assert.is(lines.length, 3);
  assert.equal(Object.keys(lines[0]), ['time', 'type', 'path', 'kind', 'size', 'sha256', 'source', 'version']);
  assert.ok(!Number.isNaN(Date.parse(lines[0].time as string)), 'time is an ISO date');
  assert.is(new Date(lines[0].time as string).toISOString(), lines[0].time);
  assert.equal(lines[1], { time: lines[1].time, ...moved });
  assert.equal(lines[2], { time: lines[2].time, ...deleted });
  assert.equal(Object.keys(lines[1]), ['time', 'type', 'path', 'from', 'kind', 'size', 'sha256', 'source', 'version']);
  assert.ok(text.endsWith('}\n'));
});

test('order is kept under many concurrent appends', async () => {
  const { folder } = tempData();
  const log = new ChangeLog({ folder });
  let next = 0;
  const writer = async () => {
    for (let i = 0; i < 100; i++) {
      log.append(entry(next++));
      if (i % 7 === 0) await tick();
    }
  };
  await Promise.all(Array.from({ length: 30 }, writer));
  await log.close();
  const sizes = readLines(log.path).map((line) => line.size);
  assert.is(sizes.length, 3000);
  assert.equal(sizes, Array.from({ length: 3000 }, (_, i) => i));
});

test('a line is in the file promptly, for tail -f, without close or flush', async () => {
  const { folder } = tempData();
  const log = new ChangeLog({ folder });
  try {
    log.append(entry(1));
    const start = Date.now();
    while (readLines(log.path).length < 1) await new Promise((done) => setTimeout(done, 2));
    // No flush timer: the line goes out on the next turn of the event loop
    // (about a millisecond); the bound is loose for a loaded test machine.
    assert.ok(Date.now() - start < 1000, `visible after ${Date.now() - start} ms`);
    log.append(entry(2));
    await new Promise((done) => setTimeout(done, 100));
    assert.is(readLines(log.path).length, 2);
  } finally {
    await log.close();
  }
});

test('rotation keeps exactly three old files, the newest lines in the current one', async () => {
  const { folder } = tempData();
  const maxBytes = 1000;
  const log = new ChangeLog({ folder, maxBytes });
  for (let n = 0; n < 200; n++) {
    log.append(entry(n));
    if (n % 9 === 0) await tick();
  }
  await log.close();
  const base = join(folder, 'change_log.jsonl');
  const files = [`${base}.3`, `${base}.2`, `${base}.1`, base];
  for (const file of files) {
    assert.ok(existsSync(file), `${file} exists`);
    assert.ok(statSync(file).size <= maxBytes, `${file} within the limit`);
  }
  assert.not.ok(existsSync(`${base}.4`), 'no fourth old file');
  const kept = files.flatMap((file) => readLines(file).map((line) => line.size as number));
  assert.is(kept.at(-1), 199, 'the newest line is in the current file');
  assert.equal(kept, Array.from({ length: kept.length }, (_, i) => 200 - kept.length + i), 'contiguous, oldest first');
  assert.ok(kept.length < 200, 'the oldest lines were dropped');
});

test('rotation picks up an existing file that is already over the limit', async () => {
  const { folder } = tempData();
  const first = new ChangeLog({ folder });
  for (let n = 0; n < 20; n++) first.append(entry(n));
  await first.close();
  const second = new ChangeLog({ folder, maxBytes: 500 });
  second.append(entry(20));
  await second.close();
  assert.is(readLines(join(folder, 'change_log.jsonl.1')).length, 20);
  assert.equal(readLines(second.path).map((line) => line.size), [20]);
});

test('close() flushes everything appended before it', async () => {
  const { folder } = tempData();
  const log = new ChangeLog({ folder });
  for (let n = 0; n < 5000; n++) log.append(entry(n));
  await log.close();
  assert.is(readLines(log.path).length, 5000);
  log.append(entry(5000)); // after close: not logged, not thrown
  await log.flush();
  assert.is(readLines(log.path).length, 5000);
});

test('errors writing the log are logged once per kind and never thrown', async () => {
  const { data } = tempData();
  const blocker = join(data, 'not-a-folder');
  writeFileSync(blocker, 'a file where the folder should be');
  const logs: { level: string; msg: string }[] = [];
  const log = new ChangeLog({ folder: blocker, log: (level, msg) => logs.push({ level, msg }) });
  for (let n = 0; n < 50; n++) {
    log.append(entry(n));
    if (n % 10 === 0) await tick();
  }
  await log.close();
  assert.is(logs.length, 1, JSON.stringify(logs));
  assert.is(logs[0].level, 'error');
  assert.match(logs[0].msg, 'Cannot write the change log');
});

test('changeType maps the store ops', () => {
  assert.is(changeType('put', false), 'created');
  assert.is(changeType('put', true), 'modified');
  assert.is(changeType('delete', true), 'deleted');
  assert.is(changeType('delete', false), 'deleted');
  assert.is(changeType('move', true), 'moved');
  assert.is(changeType('mkcol', false), 'created');
  assert.is(changeType('mkcol', true), 'created');
});

test.run();
