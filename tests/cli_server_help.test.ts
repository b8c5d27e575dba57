/**
 * `nuvem node --help` and `nuvem broker --help` (and `-h`) print their usage
 * and exit 0, through the built CLI (bin/nuvem.js), like `nuvem up --help`;
 * an unknown flag still exits 2. The node's usage lists every option of the
 * one table (nodes/node_options.ts) that `nuvem up` passes on from.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NODE_OPTIONS } from '../nodes/node_options.ts';
import { REPO_ROOT } from './_support/node_process.ts';
import { runScript } from './_support/run_script.ts';

const nuvem = (args: string[]) => runScript('bin/nuvem.js', args, { cwd: REPO_ROOT, env: { ...process.env, NUVEM_TOKEN: '' } });

test('nuvem node --help prints every node option and exits 0, without starting a node', async () => {
  for (const flag of ['--help', '-h']) {
    const run = await nuvem(['node', flag]);
    assert.is(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: nuvem node /);
    for (const name of Object.keys(NODE_OPTIONS)) assert.match(run.stdout, `--${name}`);
    assert.not.match(run.stdout, '"msg":"listening"');
  }
});

test('nuvem broker --help prints its usage and exits 0, without starting a broker', async () => {
  for (const flag of ['--help', '-h']) {
    const run = await nuvem(['broker', flag]);
    assert.is(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: nuvem broker /);
    for (const name of ['--port', '--ws-port', '--host', '--token', '--node-token', '--read-token', '--log-level']) assert.match(run.stdout, name);
    assert.not.match(run.stdout, 'broker listening');
  }
});

test('nuvem up --help lists the node options it passes on', async () => {
  const run = await nuvem(['up', '--help']);
  assert.is(run.code, 0, run.stderr);
  for (const name of ['--trash-days', '--changes-keep', '--member-ttl-ms', '--reserve', '--materialise-ms', '--rescan-ms']) assert.match(run.stdout, name);
});

test('an unknown flag is still a usage error (exit 2)', async () => {
  for (const command of ['node', 'broker']) {
    const run = await nuvem([command, '--bogus']);
    assert.is(run.code, 2, `${command}: ${run.stderr}`);
    assert.match(run.stderr, 'bogus');
  }
});

test.run();
