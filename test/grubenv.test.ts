import t from 'tap';
import { readFile, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { decodeGrubenv, encodeGrubenv, GRUBENV_SIGNATURE, GRUBENV_SIZE } from '../lib/grubenv.ts';
import { HuplabError } from '../lib/errors.ts';

const abState = { resin_root_part: 'resin-rootA', upgrade_available: '0', bootcount: '0' };

async function editenvList(file: string): Promise<string> {
  return (await execa('grub-editenv', [file, 'list'])).stdout;
}

t.test('encoding is a 1024-byte block: header, lines, # padding', async (t) => {
  const buf = encodeGrubenv(abState);
  t.equal(buf.length, GRUBENV_SIZE);
  const text = buf.toString('latin1');
  const body = `${GRUBENV_SIGNATURE}resin_root_part=resin-rootA\nupgrade_available=0\nbootcount=0\n`;
  t.equal(text.slice(0, body.length), body);
  t.match(text.slice(body.length), /^#+$/);
  t.equal(text.length - body.length, GRUBENV_SIZE - Buffer.byteLength(body));
});

t.test('round trip, including escapes, "=" in values, UTF-8 and empty values', async (t) => {
  const vars = {
    a: 'b',
    path: 'C:\\dir\\x',
    multi: 'one\ntwo\\\nthree',
    eq: 'k=v=w',
    empty: '',
    utf: 'grüße ✓',
    __proto__x: 'y',
  };
  t.strictSame(decodeGrubenv(encodeGrubenv(vars)), vars);
  t.strictSame(decodeGrubenv(encodeGrubenv({})), {});
});

t.test('a variable named __proto__ survives decoding as data', async (t) => {
  const decoded = decodeGrubenv(encodeGrubenv(JSON.parse('{"__proto__":"x","b":"c"}') as Record<string, string>));
  t.same(Object.keys(decoded), ['__proto__', 'b']);
  t.equal(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, 'x');
});

t.test('grub-editenv lists what we encoded', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'grubenv');
  const vars = { ...abState, back: 'a\\b', nl: 'x\ny' };
  await writeFile(file, encodeGrubenv(vars));
  const expected = Object.entries(vars)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  t.equal(await editenvList(file), expected);
});

t.test('we decode what grub-editenv created and set', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'grubenv');
  await execa('grub-editenv', [file, 'create']);
  await execa('grub-editenv', [file, 'set', 'a=b', 'c=d']);
  t.strictSame(decodeGrubenv(await readFile(file)), { a: 'b', c: 'd' });
  await execa('grub-editenv', [file, 'set', 'esc=1\\2', 'nl=l1\nl2', 'a=changed']);
  await execa('grub-editenv', [file, 'unset', 'c']);
  t.strictSame(decodeGrubenv(await readFile(file)), { a: 'changed', esc: '1\\2', nl: 'l1\nl2' });
});

t.test('grub-editenv edits our file in place and it stays 1024 bytes', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'grubenv');
  await writeFile(file, encodeGrubenv(abState));
  await execa('grub-editenv', [file, 'set', 'bootcount=1', 'upgrade_available=1', 'extra=yes']);
  t.equal((await stat(file)).size, GRUBENV_SIZE);
  t.strictSame(decodeGrubenv(await readFile(file)), {
    resin_root_part: 'resin-rootA',
    upgrade_available: '1',
    bootcount: '1',
    extra: 'yes',
  });
});

t.test('the block may be filled exactly, one byte more is refused', async (t) => {
  const room = GRUBENV_SIZE - GRUBENV_SIGNATURE.length - 'k=\n'.length;
  t.equal(encodeGrubenv({ k: 'v'.repeat(room) }).length, GRUBENV_SIZE);
  t.equal(decodeGrubenv(encodeGrubenv({ k: 'v'.repeat(room) })).k, 'v'.repeat(room));
  t.throws(() => encodeGrubenv({ k: 'v'.repeat(room + 1) }), { code: 'grubenv-too-large' });
  // An escaped newline costs two bytes.
  t.throws(() => encodeGrubenv({ k: `${'v'.repeat(room - 1)}\n` }), { code: 'grubenv-too-large' });
});

t.test('bad names and values are refused with a HuplabError', async (t) => {
  for (const name of ['a=b', 'a\nb', '', '#comment', 'nul\0']) {
    t.throws(() => encodeGrubenv({ [name]: 'x' }), { code: 'grubenv-invalid-name' }, JSON.stringify(name));
  }
  t.throws(() => encodeGrubenv({ k: 'a\0b' }), { code: 'grubenv-invalid-value' });
  t.throws(() => encodeGrubenv({ k: 3 as unknown as string }), { code: 'grubenv-invalid-value' });
  try {
    encodeGrubenv({ 'a=b': 'x' });
    t.fail('should have thrown');
  } catch (err) {
    t.ok(err instanceof HuplabError);
    t.match((err as HuplabError).oneLine(), /invalid variable name "a=b" \(names must/);
  }
});

t.test('decoding rejects wrong size, missing header and truncated entries', async (t) => {
  const good = encodeGrubenv(abState);
  t.throws(() => decodeGrubenv(good.subarray(0, 1023)), { code: 'grubenv-invalid', message: /size is 1023 bytes/ });
  t.throws(() => decodeGrubenv(Buffer.concat([good, Buffer.from('#')])), { code: 'grubenv-invalid' });
  const noHeader = Buffer.from(good);
  noHeader.write('X', 0, 'latin1');
  t.throws(() => decodeGrubenv(noHeader), { code: 'grubenv-invalid', message: /header/ });
  const unterminated = Buffer.alloc(GRUBENV_SIZE, 'v');
  unterminated.write(`${GRUBENV_SIGNATURE}k=`, 0, 'latin1');
  t.throws(() => decodeGrubenv(unterminated), { code: 'grubenv-invalid', message: /not terminated/ });
  const noEquals = Buffer.alloc(GRUBENV_SIZE, '#');
  noEquals.write(`${GRUBENV_SIGNATURE}garbage\nk=v\n`, 0, 'latin1');
  t.throws(() => decodeGrubenv(noEquals), { code: 'grubenv-invalid', message: /no "="/ });
});
