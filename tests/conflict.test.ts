import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { wins, type Rankable } from '../nodes/conflict.ts';

const live = (version: string): Rankable => ({ version, deleted: false });
const tomb = (version: string, prev: string): Rankable => ({ version, deleted: true, prev });

test('the newer live version wins', () => {
  assert.ok(wins(live('02'), live('01')));
  assert.not.ok(wins(live('01'), live('02')));
  assert.not.ok(wins(live('01'), live('01')));
});

test('a delete beats the version it deleted and older ones', () => {
  assert.ok(wins(tomb('05', '03'), live('03')));
  assert.ok(wins(tomb('05', '03'), live('02')));
});

test('a modification concurrent with a delete wins over it', () => {
  // L1 → (A writes L2) ∥ (B deletes L1 as D, later in time)
  assert.ok(wins(live('02'), tomb('09', '01')));
  assert.not.ok(wins(tomb('09', '01'), live('02')));
});

test('any arrival order converges to the same winner', () => {
  const records = [live('01'), live('02'), live('04'), tomb('03', '01'), tomb('05', '04'), tomb('06', '02')];
  const fold = (order: Rankable[]) => order.reduce((cur, r) => (wins(r, cur) ? r : cur));
  const expected = fold(records);
  const rng = (() => { let s = 7; return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31; })();
  for (let i = 0; i < 200; i++) {
    const shuffled = [...records].sort(() => rng() - 0.5);
    assert.equal(fold(shuffled), expected);
  }
  assert.equal(expected, tomb('05', '04'));
});

test.run();
