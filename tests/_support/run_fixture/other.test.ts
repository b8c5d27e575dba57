// A suite for tests/test_runner.test.ts with a second reason to skip.
import { test } from 'uvu';
import { skipped } from '../skip.ts';

test('needs another tool', () => skipped('no other tool'));

test.run();
