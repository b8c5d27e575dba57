import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCli, resolveConnection, UsageError } from '../client/cli_args.ts';
import { usage, usageHint } from '../client/cli_usage.ts';

const usageError = (argv: string[], pattern: RegExp) => {
  try {
    parseCli(argv);
  } catch (err) {
    assert.instance(err, UsageError);
    assert.match((err as Error).message, pattern);
    return err as UsageError;
  }
  assert.unreachable(`expected a usage error for ${JSON.stringify(argv)}`);
};

test('a command with global flags before and after it', () => {
  assert.equal(parseCli(['--nodes', 'http://a:1', 'ls', '-r', 'photos', '--json', '-v']), {
    kind: 'command',
    command: 'ls',
    args: ['photos'],
    options: { recursive: true },
    global: { nodes: 'http://a:1', token: undefined, json: true, verbose: true },
  });
  const p = parseCli(['--token=T', 'put', 'a.txt', 'docs/', '--no-overwrite']);
  assert.is(p.kind, 'command');
  if (p.kind === 'command') {
    assert.equal(p.args, ['a.txt', 'docs/']);
    assert.equal(p.options, { 'no-overwrite': true });
    assert.is(p.global.token, 'T');
  }
});

test('"-" is an argument, and "--" ends the flags', () => {
  const get = parseCli(['get', 'a.txt', '-']);
  assert.equal(get.kind === 'command' && get.args, ['a.txt', '-']);
  const rm = parseCli(['rm', '--', '-odd-name']);
  assert.equal(rm.kind === 'command' && rm.args, ['-odd-name']);
});

test('help: flag, command, or topic', () => {
  assert.equal(parseCli(['--help']), { kind: 'help' });
  assert.equal(parseCli(['-h']), { kind: 'help' });
  assert.equal(parseCli(['help']), { kind: 'help', command: undefined });
  assert.equal(parseCli(['help', 'mv']), { kind: 'help', command: 'mv' });
  assert.equal(parseCli(['mv', '-h']), { kind: 'help', command: 'mv' });
});

test('usage errors: no command, unknown command, unknown flag, wrong arity', () => {
  usageError([], /Missing a command/);
  usageError(['frobnicate'], /Unknown command "frobnicate"/);
  usageError(['help', 'frobnicate'], /Unknown command/);
  assert.is(usageError(['ls', '--bogus'], /Unknown option '--bogus'/)?.command, 'ls');
  usageError(['mv', '--recursive', 'a', 'b'], /Unknown option '--recursive'/);
  usageError(['get'], /get: missing REMOTE/);
  usageError(['mv', 'a'], /mv: missing TO/);
  usageError(['stat', 'a', 'b'], /unexpected argument "b"/);
  usageError(['ls', '--nodes'], /--nodes/);
});

test('node, up and broker pass their arguments through untouched', () => {
  assert.equal(parseCli(['node', '--port', '0', '--data', '/tmp/x', '--whatever']), {
    kind: 'passthrough', command: 'node', argv: ['--port', '0', '--data', '/tmp/x', '--whatever'],
  });
  assert.equal(parseCli(['--token', 'T', 'node', '--port', '1']), {
    kind: 'passthrough', command: 'node', argv: ['--token', 'T', '--port', '1'],
  });
  assert.equal(parseCli(['up', '--nodes', '3']), { kind: 'passthrough', command: 'up', argv: ['--nodes', '3'] });
});

test('connection: flags win over the environment', () => {
  const global = { json: false, verbose: false };
  assert.equal(resolveConnection({ ...global, nodes: 'http://a:1/' }, { NUVEM_NODES: 'http://b:2', NUVEM_TOKEN: 'E' }), {
    nodes: ['http://a:1'], token: 'E',
  });
  assert.equal(resolveConnection({ ...global, token: 'F' }, { NUVEM_NODES: 'http://b:2,http://c:3' }), {
    nodes: ['http://b:2', 'http://c:3'], token: 'F',
  });
  assert.equal(resolveConnection(global, { NUVEM_NODES: 'http://b:2', NUVEM_TOKEN: '' }), { nodes: ['http://b:2'] });
  assert.throws(() => resolveConnection({ ...global, nodes: 'localhost' }, {}), (e: Error) => e instanceof UsageError);
  assert.throws(() => resolveConnection({ ...global, nodes: ',' }, {}), (e: Error) => e instanceof UsageError && /--nodes/.test(e.message));
});

test('--prefer NODE binds to a node, with node URLs or with the broker', () => {
  const parsed = parseCli(['--broker', 'mqtt://h:1883', '--prefer', 'node-2', 'sync', 'dir']);
  assert.is(parsed.kind === 'command' && parsed.global.prefer, 'node-2');
  assert.is(parsed.kind === 'command' && parsed.args[0], 'dir');
  const global = { json: false, verbose: false };
  assert.equal(resolveConnection({ ...global, broker: 'mqtt://h:1883', prefer: 'node-2' }, {}), { broker: 'mqtt://h:1883', prefer: 'node-2' });
  assert.equal(resolveConnection({ ...global, nodes: 'http://a:1,http://b:2', prefer: 'http://b:2' }, {}), { nodes: ['http://a:1', 'http://b:2'], prefer: 'http://b:2' });
  assert.throws(() => resolveConnection({ ...global, prefer: ' ' }, {}), (e: Error) => e instanceof UsageError && /--prefer/.test(e.message));
});

test('connection: without node URLs, the broker (flag, then NUVEM_BROKER, then the local default)', () => {
  const global = { json: false, verbose: false };
  assert.equal(resolveConnection(global, {}), { broker: 'mqtt://127.0.0.1:1883' });
  assert.equal(resolveConnection(global, { NUVEM_BROKER: 'mqtt://b:1884', NUVEM_TOKEN: 'T' }), { broker: 'mqtt://b:1884', token: 'T' });
  assert.equal(resolveConnection({ ...global, broker: 'mqtt://f:1' }, { NUVEM_BROKER: 'mqtt://b:1884' }), { broker: 'mqtt://f:1' });
  // --broker beats NUVEM_NODES; --nodes beats everything.
  assert.equal(resolveConnection({ ...global, broker: 'mqtt://f:1' }, { NUVEM_NODES: 'http://b:2' }), { broker: 'mqtt://f:1' });
  assert.equal(resolveConnection({ ...global, nodes: 'http://a:1', broker: 'mqtt://f:1' }, {}), { nodes: ['http://a:1'] });
  assert.throws(() => resolveConnection({ ...global, broker: 'localhost:1883' }, {}), (e: Error) => e instanceof UsageError && /broker/.test(e.message));
  const parsed = parseCli(['--broker', 'mqtt://x:1', 'status']);
  assert.equal(parsed.kind === 'command' && parsed.global.broker, 'mqtt://x:1');
  assert.equal(parseCli(['watch', 'photos', '--json']).kind, 'command');
});

test('usage text names every command and flag', () => {
  const all = usage();
  for (const c of ['put', 'get', 'rm', 'mv', 'mkdir', 'ls', 'stat', 'revisions', 'status', 'watch', 'node']) assert.ok(all.includes(`nuvem ${c}`), c);
  assert.match(all, /--broker URL/);
  assert.match(usage('rm'), /-r, --recursive/);
  assert.match(usage('mv'), /--no-overwrite/);
  assert.match(usageHint('ls'), /^Usage: nuvem ls \[FOLDER\] \[-r\|--recursive\]\n/);
  assert.is(usageHint(), all);
});

test.run();
