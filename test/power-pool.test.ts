import t from 'tap';
import { runPool } from '../harness/power/pool.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the pool keeps at most N items running, and returns results in the items order', async (t) => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  const out = await runPool([30, 5, 20, 1, 10], 2, async (ms, i, w) => {
    running++;
    most = Math.max(most, running);
    t.ok(w === 0 || w === 1, `worker ${w} is one of two`);
    await sleep(ms);
    running--;
    seen.push(i);
    return i * 10;
  });
  t.same(out, [0, 10, 20, 30, 40], 'in the items order, not the finishing order');
  t.equal(most, 2, 'two at once');
  t.not(seen.join(), '0,1,2,3,4', 'they finished out of order, so the order above is not luck');
});

t.test('one worker runs the items one after the other, in order', async (t) => {
  const order: number[] = [];
  let running = 0;
  await runPool([3, 1, 2], 1, async (ms, i) => {
    running++;
    t.equal(running, 1);
    await sleep(ms);
    order.push(i);
    running--;
  });
  t.same(order, [0, 1, 2]);
});

t.test('the first error stops scheduling and is thrown', async (t) => {
  const started: number[] = [];
  await t.rejects(
    runPool([0, 1, 2, 3, 4, 5], 2, async (_x, i) => {
      started.push(i);
      await sleep(5);
      if (i === 1) throw new Error('boom');
    }),
    /boom/,
  );
  await sleep(50);
  t.ok(started.length <= 3, `no more items started after the error (started ${started.join(',')})`);
});

t.test('workers must be a whole number >= 1', async (t) => {
  await t.rejects(
    runPool([1], 0, async () => 1),
    RangeError,
  );
  await t.rejects(
    runPool([1], 1.5, async () => 1),
    RangeError,
  );
});
