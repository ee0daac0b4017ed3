import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSchema, describeSchemaError } from '../lib/json-schema.ts';
import { repoRoot } from '../lib/paths.ts';

const validate = compileSchema(join(repoRoot, 'images', 'release.schema.json'));
const recipe = JSON.parse(readFileSync(join(repoRoot, 'images', 'releases', '2.101.0.json'), 'utf8')) as object;
const withDate = (date: string) => (validate({ ...recipe, date }) ? 'ok' : describeSchemaError(validate.errors));

t.test('date-time (ajv-formats): RFC 3339 with a time zone and a real calendar date', async (t) => {
  t.equal(withDate('2024-01-01T00:00:00Z'), 'ok');
  t.equal(withDate('2024-01-01T00:00:00.5+01:00'), 'ok');
  t.equal(withDate('2024-02-29T23:59:59Z'), 'ok', 'a leap day');
  for (const bad of [
    '2024-01-01',
    '2024-01-01T00:00:00',
    '2023-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-01T25:00:00Z',
  ]) {
    t.equal(withDate(bad), '/date must match format "date-time"', bad);
  }
});

t.test('a type error names the type the field actually has', async (t) => {
  t.notOk(validate({ ...recipe, deviceTypes: 'generic-amd64' }));
  t.equal(describeSchemaError(validate.errors), '/deviceTypes must be array, not string "generic-amd64"');
  t.notOk(validate({ ...recipe, deviceTypes: { a: 1 } }));
  t.equal(describeSchemaError(validate.errors), '/deviceTypes must be array, not object');
  t.notOk(validate({ ...recipe, deviceTypes: 3 }));
  t.equal(describeSchemaError(validate.errors), '/deviceTypes must be array, not integer 3');
});
