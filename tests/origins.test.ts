import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostAllowed, hostName, originAllowed } from '../protocol/origins.ts';

test('host names are taken from Host headers with or without a port', () => {
  assert.is(hostName('LocalHost:7001'), 'localhost');
  assert.is(hostName('[::1]:7001'), '[::1]');
  assert.is(hostName('10.0.0.5'), '10.0.0.5');
});

test('loopback names and the public URL host are answered; others are not', () => {
  for (const h of ['127.0.0.1:7001', 'localhost:7001', '[::1]:7001', '127.9.9.9', undefined, '']) assert.ok(hostAllowed(h, []), String(h));
  for (const h of ['evil.example:7001', 'evil.example', '10.0.0.5:7001', 'localhost.evil.example']) assert.not.ok(hostAllowed(h, []), h);
  assert.ok(hostAllowed('nuvem.lan:7001', ['nuvem.lan']));
});

test('loopback origins and named origins may connect; other sites and null may not', () => {
  for (const o of ['http://127.0.0.1:7001', 'http://localhost:8083', 'https://[::1]:7001', undefined]) assert.ok(originAllowed(o, []), String(o));
  for (const o of ['http://evil.example', 'null', 'file://', 'http://127.0.0.1.evil.example']) assert.not.ok(originAllowed(o, []), o);
  assert.ok(originAllowed('http://nuvem.lan:7001', ['http://nuvem.lan:7001']));
});

test.run();
