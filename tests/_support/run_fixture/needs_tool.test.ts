// A suite for tests/test_runner.test.ts: two tests that cannot run here, one
// that can, one marked .skip; FIXTURE_FAIL=1 makes the runnable one fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { skipped } from '../skip.ts';

test('needs the tool', () => skipped('no fixture tool', { required: 'FIXTURE_REQUIRE_TOOL', hint: 'install it' }));

test('needs it too', () => skipped('no fixture tool', { required: 'FIXTURE_REQUIRE_TOOL' }));

test('runs anywhere', () => {
  assert.is(process.env.FIXTURE_FAIL, undefined, 'FIXTURE_FAIL is set');
});

test.skip('marked .skip', () => {});

test.run();
