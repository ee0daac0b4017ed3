import t from 'tap';
import {
  classifyAttempt,
  classifyRunError,
  classifyTest,
  isInfrastructureFailure,
} from '../harness/report/classify.ts';
import { HuplabError } from '../lib/errors.ts';
import { infraError, productError, thrown } from './helpers/report-fakes.ts';

const failed = (...errors: ReturnType<typeof thrown>[]) => ({ status: 'failed' as const, errors, error: errors[0] });

t.test('explicit infrastructure errors, as Playwright reports them', async (t) => {
  t.ok(isInfrastructureFailure(infraError()));
  t.ok(
    isInfrastructureFailure({
      message: '\x1b[31mHuplabError: infrastructure: port 2222 on 127.0.0.1 is in use\x1b[39m',
    }),
    'colours do not hide it',
  );
  t.ok(isInfrastructureFailure({ message: 'Error: device fixture failed', cause: infraError() }), 'through the cause');
  t.ok(
    isInfrastructureFailure(thrown(new HuplabError('npm-download-failed', 'could not download node'))),
    'a builder code from the list',
  );
});

t.test('host disk full (Node ENOSPC) is infrastructure', async (t) => {
  const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  t.ok(isInfrastructureFailure(thrown(e)));
  t.notOk(
    isInfrastructureFailure(thrown(new Error('updater: write failed: ENOSPC: no space left on device'))),
    "the device's full /data is the product's business",
  );
});

t.test('everything else is a product failure', async (t) => {
  t.notOk(isInfrastructureFailure(productError()));
  t.notOk(isInfrastructureFailure(thrown(new Error('Test timeout of 360000ms exceeded.'))));
  t.notOk(
    isInfrastructureFailure(thrown(new HuplabError('qemu-exited', 'QEMU of d1 exited while waiting for the OS'))),
  );
  t.notOk(isInfrastructureFailure(thrown(new Error('expected infrastructure: mentioned later'))));
  t.notOk(isInfrastructureFailure(thrown(new HuplabError('digest-mismatch', 'blob hashes to something else'))));
  t.notOk(isInfrastructureFailure(undefined));
});

t.test('attempts: the first error decides', async (t) => {
  t.equal(classifyAttempt(failed(infraError(), productError()), 'passed'), 'infrastructure');
  t.equal(
    classifyAttempt(failed(productError(), infraError()), 'passed'),
    'product',
    'a teardown lab error after a product failure',
  );
  t.equal(classifyAttempt({ status: 'timedOut', errors: [] }, 'passed'), 'product');
  t.equal(classifyAttempt({ status: 'passed', errors: [] }, 'passed'), 'passed');
  t.equal(classifyAttempt(failed(productError()), 'failed'), 'passed', 'test.fail(): failing is passing');
  t.equal(classifyAttempt({ status: 'skipped', errors: [] }, 'passed'), 'skipped');
  t.equal(classifyAttempt({ status: 'interrupted', errors: [] }, 'passed'), 'infrastructure');
});

t.test('tests: product wins over infrastructure', async (t) => {
  t.equal(classifyTest('unexpected', ['infrastructure', 'infrastructure']), 'infrastructure');
  t.equal(classifyTest('unexpected', ['infrastructure', 'product']), 'product');
  t.equal(classifyTest('unexpected', ['product']), 'product');
  t.equal(classifyTest('flaky', ['infrastructure', 'passed']), 'flaky');
  t.equal(classifyTest('expected', ['passed']), 'passed');
  t.equal(classifyTest('skipped', ['skipped']), 'skipped');
  t.equal(classifyRunError(infraError()), 'infrastructure');
  t.equal(classifyRunError(productError()), 'product');
});
