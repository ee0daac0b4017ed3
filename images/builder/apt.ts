import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cacheDir } from '../../lib/paths.ts';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { checkDigest, checkFile, FILE_RECORD_SUFFIX, recordFile, reuse } from './cache-verify.ts';

/** A Debian package as the archive's signed index describes it. */
export interface DebianPackage {
  name: string;
  arch: string;
  version: string;
  sha256: string;
  size: number;
}

/**
 * Resolves package names (`name`, or `name=version` for a pinned version) to the exact versions
 * apt would install for `arch`, with the SHA256
 * from the archive's (signature-checked) index, in one apt-cache call. The build is keyed on
 * these, so a Debian security update changes the cache key instead of silently changing a
 * cached image.
 */
export async function resolvePackages(
  names: string[],
  arch: string,
  narrator: Narrator = silentNarrator,
): Promise<DebianPackage[]> {
  return memoAgainstAptLists(['packages', names, arch], () => resolveWithAptCache(names, arch), narrator);
}

/**
 * apt-cache takes about a second a call; its answers only change when the package lists do, so
 * they are memoised against the lists' state (apt-get update rewrites the files in /var/lib/apt/lists).
 */
async function memoAgainstAptLists<T>(key: unknown, compute: () => Promise<T>, narrator: Narrator): Promise<T> {
  let memo: string | undefined;
  try {
    const lists = '/var/lib/apt/lists';
    const state = [];
    for (const f of (await readdir(lists)).sort()) {
      if (f === 'lock' || f === 'partial' || f === 'auxfiles') continue;
      const st = await stat(join(lists, f));
      state.push([f, st.mtimeMs, st.size]);
    }
    if (state.length === 0) return compute();
    const id = createHash('sha256')
      .update(JSON.stringify([key, state]))
      .digest('hex');
    memo = join(cacheDir(), 'apt-resolve', `${id}.json`);
  } catch {
    return compute();
  }
  const file = memo;
  if (
    await reuse({
      what: 'apt answer',
      path: file,
      also: [`${file}${FILE_RECORD_SUFFIX}`],
      check: () => checkFile(file),
      narrator,
    })
  )
    return JSON.parse(await readFile(memo, 'utf8')) as T;
  const value = await compute();
  await mkdir(dirname(memo), { recursive: true });
  await writeFile(`${memo}.${process.pid}.tmp`, JSON.stringify(value));
  await recordFile(`${memo}.${process.pid}.tmp`, memo);
  await rename(`${memo}.${process.pid}.tmp`, memo);
  return value;
}

async function resolveWithAptCache(specs: string[], arch: string): Promise<DebianPackage[]> {
  const wanted = specs.map((s) => {
    const [name, version] = s.split('=', 2) as [string, string | undefined];
    return { name, version };
  });
  const query = wanted.map((w) => `${w.name}:${arch}${w.version === undefined ? '' : `=${w.version}`}`);
  const { stdout } = await execa('apt-cache', ['show', '--no-all-versions', ...query], { reject: false });
  const found = new Map<string, DebianPackage>();
  for (const stanza of stdout.split(/\n\n+/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    const sha256 = field('SHA256');
    const a = field('Architecture');
    const pinned = wanted.find((w) => w.name === name)?.version;
    if (
      name &&
      version &&
      sha256 &&
      (a === arch || a === 'all') &&
      (pinned === undefined || pinned === version) &&
      !found.has(name)
    ) {
      found.set(name, { name, arch: a === 'all' ? arch : a, version, sha256, size: Number(field('Size') ?? 0) });
    }
  }
  return wanted.map(({ name, version }) => {
    const pkg = found.get(name);
    if (!pkg) {
      const what = `${name}:${arch}${version === undefined ? '' : ` version ${version}`}`;
      throw new HuplabError('debian-package-missing', `Debian package ${what} is not known to apt`, {
        hint:
          arch !== hostArch()
            ? `run \`dpkg --add-architecture ${arch} && apt-get update\``
            : version !== undefined
              ? `\`apt-cache madison ${name}\` lists the versions apt offers; pin one of them in the recipe`
              : 'run `apt-get update`, or check the package name in the recipe or profile',
      });
    }
    return pkg;
  });
}

export async function resolvePackage(name: string, arch: string): Promise<DebianPackage> {
  return (await resolvePackages([name], arch))[0]!;
}

/** Meta packages (linux-image-cloud-amd64) resolve to the versioned package they depend on. */
export async function resolveKernelPackage(
  meta: string,
  arch: string,
  narrator: Narrator = silentNarrator,
): Promise<DebianPackage> {
  return memoAgainstAptLists(
    ['kernel', meta, arch],
    async () => {
      const { stdout } = await execa('apt-cache', ['depends', `${meta}:${arch}`], { reject: false });
      const dep = /Depends: (linux-image-[^\s:]+)/.exec(stdout)?.[1];
      return (await resolveWithAptCache([dep ?? meta], arch))[0]!;
    },
    narrator,
  );
}

export function hostArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads a package into the cache (named by its digest) and checks it against the index's
 * SHA256 before it is used; a mismatch deletes the file and fails the build. A cached package is
 * checked against the same SHA256 at every use, and downloaded again if it does not match.
 */
export async function fetchPackage(
  pkg: DebianPackage,
  cache: string,
  narrator: Narrator = silentNarrator,
): Promise<string> {
  const dir = join(cache, 'debs');
  const target = join(dir, `${pkg.sha256}.deb`);
  if (
    await reuse({
      what: `Debian package ${pkg.name} ${pkg.version} (${pkg.arch})`,
      path: target,
      check: () => checkDigest(target, 'sha256', pkg.sha256),
      narrator,
    })
  )
    return target;
  await mkdir(dir, { recursive: true });
  const work = join(dir, `.download-${process.pid}-${pkg.sha256.slice(0, 12)}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work);
  try {
    // apt-get download writes into the current directory; -o keeps it from trying to drop to _apt.
    const r = await execa(
      'apt-get',
      ['download', '-q', '-o', 'APT::Sandbox::User=root', `${pkg.name}:${pkg.arch}=${pkg.version}`],
      {
        cwd: work,
        reject: false,
      },
    );
    const files = (await readdir(work)).filter((f) => f.endsWith('.deb'));
    if (r.exitCode !== 0 || files.length !== 1) {
      throw new HuplabError(
        'debian-download-failed',
        `could not download ${pkg.name} ${pkg.version} (${pkg.arch}): ${lastLine(r.stderr)}`,
        {
          hint: 'check the network to the Debian mirror and run `apt-get update`',
        },
      );
    }
    const file = join(work, files[0]!);
    const digest = await sha256File(file);
    if (digest !== pkg.sha256) {
      throw new HuplabError(
        'digest-mismatch',
        `${pkg.name} ${pkg.version}: SHA256 ${digest} does not match the archive index (${pkg.sha256})`,
        {
          hint: 'the download was corrupted or tampered with; run `apt-get update` and retry',
        },
      );
    }
    await rename(file, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function extractPackage(debPath: string, into: string): Promise<void> {
  await execa('dpkg-deb', ['-x', debPath, into]);
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).at(-1) ?? 'no output';
}
