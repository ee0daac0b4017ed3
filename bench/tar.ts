import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  type Stats,
} from 'node:fs';
import { cp, link, mkdir, mkdtemp, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { build } from 'esbuild';
import { execa } from 'execa';
import * as nodeTar from 'tar';
import tarStream, { type Header } from 'tar-stream';
import { normaliseTimes } from '../images/builder/reproducible.ts';
import { gunzipFile } from '../lib/delta/layer.ts';
import { repoRoot } from '../lib/paths.ts';
import { extractTar, normalizeMemberPath, SafeTree, type TarWriteEntry, writeTar } from '../lib/tar/index.ts';
import { applyDirMeta, applySymlinkMeta, type MemberMeta, writeMember } from '../lib/tar/write-member.ts';
import { snapshotTree } from './tree-snapshot.ts';
import { median, table } from './stats.ts';

/**
 * lib/tar against the two npm tar libraries, side by side in one run: writing a layer-sized
 * tree, reading + extracting a gzip layer the way the updater does, peak RSS of each (every
 * measurement runs in a process of its own), byte-identical output, what survives extraction,
 * and what each does with archives that try to leave the target directory.
 *
 * `npm run bench -- tar`; HUPLAB_BENCH_TAR_RUNS (default 3) sets the runs per figure.
 */

const CHILD_ENV = 'HUPLAB_BENCH_TAR_CHILD';
const EPOCH = 1_700_000_000;
const SELF = fileURLToPath(import.meta.url);

type Op =
  | { op: 'noop' }
  | { op: 'write'; impl: WriteImpl; tree: string; out: string }
  | { op: 'extract'; impl: ExtractImpl; layer: string; dest: string };
type WriteImpl = 'ours' | 'tar-stream' | 'node-tar';
type ExtractImpl = 'ours' | 'tar-stream' | 'node-tar';

/** The tree in the order a reproducible packer uses: depth first, names sorted. */
function* walk(root: string): Generator<{ rel: string; abs: string; st: Stats }> {
  const visit = function* (rel: string): Generator<{ rel: string; abs: string; st: Stats }> {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    yield { rel, abs, st };
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) yield* visit(rel ? `${rel}/${name}` : name);
  };
  yield* visit('');
}

function* members(root: string): Generator<TarWriteEntry & { abs: string }> {
  const inodes = new Map<number, string>();
  for (const { rel, abs, st } of walk(root)) {
    const base = {
      abs,
      path: rel ? `./${rel}` : './',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: 0,
    };
    if (st.isDirectory()) yield { ...base, type: 'directory' };
    else if (st.isSymbolicLink()) yield { ...base, type: 'symlink', linkname: readlinkSync(abs) };
    else if (st.nlink > 1 && inodes.has(st.ino))
      yield { ...base, type: 'hardlink', linkname: `./${inodes.get(st.ino)}` };
    else {
      if (st.nlink > 1) inodes.set(st.ino, rel);
      yield { ...base, type: 'file', size: st.size, body: createReadStream(abs) as AsyncIterable<Buffer> };
    }
  }
}

async function writeWith(impl: WriteImpl, tree: string, out: string): Promise<void> {
  if (impl === 'ours') {
    await pipeline(writeTar(members(tree)), createWriteStream(out));
  } else if (impl === 'tar-stream') {
    const pack = tarStream.pack();
    const done = pipeline(pack, createWriteStream(out));
    for (const e of members(tree)) {
      const header: Partial<Header> & { name: string } = {
        name: e.path,
        type: e.type === 'hardlink' ? 'link' : e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: new Date(e.mtime * 1000),
        size: e.size,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      };
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
        if (e.type !== 'file') return;
        (async () => {
          for await (const chunk of e.body as AsyncIterable<Buffer>) if (!sink.write(chunk)) await once(sink, 'drain');
          sink.end(() => {});
        })().catch(reject);
      });
    }
    pack.finalize();
    await done;
  } else {
    // node-tar walks directories in readdir order; a sorted list without recursion is what
    // makes its output independent of the file system's order.
    const paths = [...walk(tree)].map((m) => (m.rel ? `./${m.rel}` : '.'));
    await nodeTar.c({ cwd: tree, file: out, portable: true, noDirRecurse: true, mtime: new Date(EPOCH * 1000) }, paths);
  }
}

async function extractWith(impl: ExtractImpl, layer: string, dest: string): Promise<void> {
  if (impl === 'ours') {
    await extractTar(gunzipFile(layer).chunks, dest);
  } else if (impl === 'tar-stream') {
    // tar-stream's parser feeding our safe tree and member writer (the replacement candidate).
    const extract = tarStream.extract();
    const feed = pipeline(gunzipFile(layer).chunks, extract);
    // An error thrown below closes the parser early; that is reported by the loop, not here.
    feed.catch(() => {});
    const tree = new SafeTree(dest);
    const dirs: { abs: string; meta: MemberMeta }[] = [];
    for await (const entry of extract) {
      const h = entry.header;
      const pax = (h.pax ?? {}) as Record<string, string>;
      const rel = normalizeMemberPath(h.name);
      const meta: MemberMeta = {
        mode: (h.mode ?? 0) & 0o7777,
        uid: pax.uid ? Number(pax.uid) : (h.uid ?? 0),
        gid: pax.gid ? Number(pax.gid) : (h.gid ?? 0),
        mtime: pax.mtime ? Number(pax.mtime) : (h.mtime?.getTime() ?? 0) / 1000,
        owner: true,
      };
      if (h.type === 'directory') dirs.push({ abs: rel === '.' ? dest : await tree.prepare(rel, true), meta });
      else if (h.type === 'file')
        await writeMember(await tree.prepare(rel, false), entry as AsyncIterable<Buffer>, meta);
      else if (h.type === 'symlink') {
        const abs = await tree.prepare(rel, false);
        await symlink(h.linkname ?? '', abs);
        tree.forget(rel);
        await applySymlinkMeta(abs, meta);
      } else if (h.type === 'link') {
        await link(await tree.existing(normalizeMemberPath(h.linkname ?? '')), await tree.prepare(rel, false));
      } else throw new Error(`${h.name}: ${h.type} not supported`);
      entry.resume();
    }
    await feed;
    for (const d of dirs.reverse()) await applyDirMeta(d.abs, d.meta);
  } else {
    await pipeline(
      createReadStream(layer),
      nodeTar.x({ cwd: dest, strict: true, preserveOwner: true, chmod: true, processUmask: 0 }),
    );
  }
}

async function child(op: Op): Promise<void> {
  const started = performance.now();
  if (op.op === 'write') await writeWith(op.impl, op.tree, op.out);
  if (op.op === 'extract') await extractWith(op.impl, op.layer, op.dest);
  const ms = performance.now() - started;
  // VmHWM, not getrusage's maxRSS: Linux carries maxRSS over from the parent across fork and exec.
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  process.stdout.write(JSON.stringify({ ms, rssMiB: Number(hwm?.[1] ?? Number.NaN) / 1024 }));
}

async function run(op: Op): Promise<{ ms: number; rssMiB: number }> {
  const r = await execa(process.execPath, ['--import', 'tsx', SELF], {
    env: { [CHILD_ENV]: JSON.stringify(op) },
    cwd: repoRoot,
  });
  return JSON.parse(r.stdout) as { ms: number; rssMiB: number };
}

const sha256File = async (p: string) =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

/** A layer-sized tree: whole top-level packages of node_modules until several thousand files and tens of MB. */
async function makeTree(dest: string): Promise<{ files: number; bytes: number }> {
  const nm = join(repoRoot, 'node_modules');
  let files = 0;
  let bytes = 0;
  await mkdir(dest);
  for (const name of readdirSync(nm).sort()) {
    if (files >= 6000 && bytes >= 60 << 20) break;
    if (name.startsWith('.') || name === '@playwright' || name === 'playwright-core') continue;
    await cp(join(nm, name), join(dest, name), { recursive: true, verbatimSymlinks: true });
    for (const m of walk(join(dest, name))) {
      if (m.st.isFile()) {
        files++;
        bytes += m.st.size;
      }
    }
  }
  await normaliseTimes(dest, EPOCH);
  return { files, bytes };
}

/** How a tree extracted from the layer differs from the source: the kinds of difference and their counts. */
function differences(want: ReturnType<typeof snapshotTree>, got: ReturnType<typeof snapshotTree>): string {
  const kinds = new Map<string, number>();
  const bump = (k: string) => kinds.set(k, (kinds.get(k) ?? 0) + 1);
  for (const [p, w] of Object.entries(want)) {
    const g = got[p];
    if (!g) {
      bump('missing');
      continue;
    }
    for (const k of ['type', 'mode', 'uid', 'gid', 'mtimeMs', 'sha256', 'link'] as const) {
      if (w[k] !== g[k]) bump(`${w.type} ${k === 'mtimeMs' ? 'mtime' : k}`);
    }
  }
  for (const p of Object.keys(got)) if (!(p in want)) bump('extra');
  return kinds.size ? [...kinds].map(([k, n]) => `${n} ${k}`).join(', ') : 'none';
}

/** Archives that try to write outside the target, made with our writer (it writes what it is given). */
function evilArchives(outside: string): Record<string, TarWriteEntry[]> {
  const file = (path: string): TarWriteEntry => ({
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 5,
    body: Buffer.from('pwned'),
  });
  return {
    '../escape': [file('../escape-dotdot')],
    'absolute path': [file(join(outside, 'escape-abs'))],
    'symlink, then a member through it': [
      { path: 'sneaky', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: outside },
      file('sneaky/escape-symlink'),
    ],
    'hard link to ../../x': [
      { path: 'hl', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, linkname: '../../escape-hl' },
    ],
  };
}

async function safety(scratch: string): Promise<string[][]> {
  const rows: string[][] = [['hostile archive', 'ours', 'tar-stream + our SafeTree', 'node-tar (strict)']];
  const outside = join(scratch, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(join(scratch, 'escape-hl'), 'victim');
  let n = 0;
  for (const [name, entries] of Object.entries(evilArchives(outside))) {
    const row = [name];
    for (const impl of ['ours', 'tar-stream', 'node-tar'] as const) {
      const dir = join(scratch, `evil-${n++}`);
      const dest = join(dir, 'a', 'dest');
      await mkdir(dest, { recursive: true });
      const archive = join(dir, 'evil.tar.gz');
      await pipeline(writeTar(entries), createGzip(), createWriteStream(archive));
      const before = readdirSync(outside).length + (existsSync(join(dir, 'a', 'escape-dotdot')) ? 1 : 0);
      let outcome: string;
      try {
        await extractWith(impl, archive, dest);
        const inside = readdirSync(dest);
        outcome = inside.length ? `written inside (${inside.join(', ')})` : 'skipped';
      } catch (err) {
        outcome = `refused (${(err as { code?: string }).code ?? (err as Error).message.slice(0, 30)})`;
      }
      const after = readdirSync(outside).length + (existsSync(join(dir, 'a', 'escape-dotdot')) ? 1 : 0);
      if (after > before) outcome = `ESCAPED; ${outcome}`;
      row.push(outcome);
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The device bundle each reader/writer makes (esbuild with updater/bundle.ts's options), and
 * whether it runs on plain Node: CommonJS packages that require() Node built-ins do not load
 * from an ES module bundle unless the bundle defines `require` itself.
 */
async function bundles(scratch: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {
    ours: `import { readTar, writeTar, extractTar } from '${join(repoRoot, 'lib/tar/index.ts')}'; console.log(typeof readTar, typeof writeTar, typeof extractTar);`,
    'tar-stream': `import ts from 'tar-stream'; const p = ts.pack(); p.entry({ name: 'a' }, 'x'); p.finalize(); const x = ts.extract(); x.on('entry', (h, s, n) => { s.resume(); n(); }); p.pipe(x); x.on('finish', () => console.log('ok'));`,
    'node-tar': `import { x, c } from 'tar'; console.log(typeof x, typeof c);`,
  };
  const out: Record<string, string> = {};
  for (const [name, code] of Object.entries(entries)) {
    const attempt = async (banner?: string) => {
      const file = join(scratch, `bundle-${name}${banner ? '-req' : ''}.mjs`);
      await build({
        stdin: { contents: code, resolveDir: repoRoot, loader: 'ts' },
        outfile: file,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        legalComments: 'none',
        logLevel: 'error',
        ...(banner ? { banner: { js: banner } } : {}),
      });
      const r = await execa(process.execPath, [file], { reject: false });
      const size = `${((await stat(file)).size / 1024).toFixed(0)} KiB`;
      return r.exitCode === 0 ? size : `${size}, fails: ${/Error: (.*)/.exec(r.stderr)?.[1] ?? r.stderr.slice(0, 60)}`;
    };
    const plain = await attempt();
    out[name] = plain;
    if (plain.includes('fails')) {
      const fixed = await attempt(
        "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      );
      out[name] = `${plain}; with a createRequire banner: ${fixed.includes('fails') ? fixed : 'runs'}`;
    }
  }
  return out;
}

export async function benchTar(): Promise<string> {
  const runs = Number(process.env.HUPLAB_BENCH_TAR_RUNS ?? 3);
  const scratch = await mkdtemp(join(tmpdir(), 'huplab-bench-tar-'));
  try {
    const tree = join(scratch, 'tree');
    const shape = await makeTree(tree);
    const copy = join(scratch, 'tree-copy');
    await cp(tree, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    await normaliseTimes(copy, EPOCH);
    // The layer as the image builder makes it (GNU tar, posix, sorted), gzip'd.
    const layer = join(scratch, 'layer.tar.gz');
    await pipeline(
      execa(
        'tar',
        ['--sort=name', '--format=posix', '--pax-option=delete=atime,delete=ctime', '-C', tree, '-cf', '-', '.'],
        {
          buffer: false,
        },
      ).stdout!,
      createGzip({ level: 6 }),
      createWriteStream(layer),
    );
    // One 256 MiB file: memory must not grow with a member's size.
    const bigTree = join(scratch, 'big');
    await mkdir(bigTree);
    await writeFile(join(bigTree, 'small'), 'x');
    await truncate(join(bigTree, 'small'), 0);
    await writeFile(join(bigTree, 'zeros'), '');
    await truncate(join(bigTree, 'zeros'), 256 << 20);
    const bigLayer = join(scratch, 'big.tar.gz');
    await pipeline(
      execa('tar', ['--format=posix', '-C', bigTree, '-cf', '-', '.'], { buffer: false }).stdout!,
      createGzip({ level: 1 }),
      createWriteStream(bigLayer),
    );
    const baseline = await run({ op: 'noop' });
    const want = snapshotTree(tree);

    const impls = ['ours', 'tar-stream', 'node-tar'] as const;
    const write: Record<
      string,
      { ms: number[]; rss: number[]; sha: string[]; copySha?: string; size?: number; compare?: string }
    > = {};
    const extract: Record<string, { ms: number[]; rss: number[]; bigRss?: number; diff?: string }> = {};
    for (const impl of impls) {
      write[impl] = { ms: [], rss: [], sha: [] };
      extract[impl] = { ms: [], rss: [] };
    }
    // Interleaved so that a slow moment of the machine does not land on one implementation only.
    for (let i = 0; i < runs; i++) {
      for (const impl of impls) {
        const out = join(scratch, `w-${impl}-${i}.tar`);
        const w = await run({ op: 'write', impl, tree, out });
        write[impl]!.ms.push(w.ms);
        write[impl]!.rss.push(w.rssMiB);
        write[impl]!.sha.push(await sha256File(out));
        if (i === 0) {
          write[impl]!.size = (await stat(out)).size;
          const cmp = await execa('tar', ['--compare', '-f', out, '-C', tree], { reject: false });
          write[impl]!.compare =
            cmp.exitCode === 0 ? 'same' : `${cmp.stdout.split('\n').filter(Boolean).length} differ`;
        }
        await rm(out);
        const dest = join(scratch, `x-${impl}-${i}`);
        await mkdir(dest);
        const x = await run({ op: 'extract', impl, layer, dest });
        extract[impl]!.ms.push(x.ms);
        extract[impl]!.rss.push(x.rssMiB);
        if (i === 0) extract[impl]!.diff = differences(want, snapshotTree(dest));
        await rm(dest, { recursive: true });
      }
    }
    for (const impl of impls) {
      const out = join(scratch, `w-${impl}-copy.tar`);
      await run({ op: 'write', impl, tree: copy, out });
      write[impl]!.copySha = await sha256File(out);
      await rm(out);
      const dest = join(scratch, `big-${impl}`);
      await mkdir(dest);
      extract[impl]!.bigRss = (await run({ op: 'extract', impl, layer: bigLayer, dest })).rssMiB;
      await rm(dest, { recursive: true });
    }
    const sizes = await bundles(scratch);
    const safe = await safety(join(scratch, 'safety'));

    const ms = (v: number[]) => `${median(v).toFixed(0)} ms`;
    const mib = (v: number) => `${v.toFixed(0)} MiB`;
    const ratio = (impl: string, pick: (r: { ms: number[] }) => number[], of: Record<string, { ms: number[] }>) =>
      `${(median(pick(of[impl]!)) / median(pick(of.ours!))).toFixed(2)}x`;
    const reproducible = (impl: string) => {
      const w = write[impl]!;
      const twice = w.sha.every((s) => s === w.sha[0]);
      return `${twice ? 'yes' : 'NO'} / ${w.copySha === w.sha[0] ? 'yes' : 'NO'}`;
    };
    const rows = [
      ['figure', ...impls.map((i) => (i === 'tar-stream' ? 'tar-stream (+ our SafeTree to extract)' : i))],
      ['write: time (median)', ...impls.map((i) => `${ms(write[i]!.ms)} (${ratio(i, (r) => r.ms, write)})`)],
      ['write: peak RSS', ...impls.map((i) => mib(median(write[i]!.rss)))],
      ['write: same bytes twice / from a copy', ...impls.map(reproducible)],
      ['write: archive bytes', ...impls.map((i) => String(write[i]!.size))],
      ['write: GNU tar --compare with the tree', ...impls.map((i) => write[i]!.compare ?? '-')],
      [
        'gunzip+extract layer: time (median)',
        ...impls.map((i) => `${ms(extract[i]!.ms)} (${ratio(i, (r) => r.ms, extract)})`),
      ],
      ['gunzip+extract layer: peak RSS', ...impls.map((i) => mib(median(extract[i]!.rss)))],
      ['extract 256 MiB member: peak RSS', ...impls.map((i) => mib(extract[i]!.bigRss ?? 0))],
      ['extracted tree vs source', ...impls.map((i) => extract[i]!.diff ?? '-')],
      ['device bundle (esbuild, node20)', ...impls.map((i) => sizes[i]!)],
    ];
    const layerBytes = (await stat(layer)).size;
    return [
      `## tar: lib/tar vs tar-stream ${pkgVersion('tar-stream')} vs node-tar ${pkgVersion('tar')}`,
      `Tree: ${shape.files} files, ${(shape.bytes / 2 ** 20).toFixed(1)} MiB (packages copied from node_modules, times set to one epoch); ` +
        `layer ${(layerBytes / 2 ** 20).toFixed(1)} MiB gzip. ${runs} runs per figure, each in a process of its own ` +
        `(Node ${process.version} + tsx, idle: ${mib(baseline.rssMiB)} RSS); ratios are to ours.`,
      table(rows),
      table(safe),
    ].join('\n\n');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function pkgVersion(name: string): string {
  return (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;
}

if (process.env[CHILD_ENV]) await child(JSON.parse(process.env[CHILD_ENV]) as Op);
