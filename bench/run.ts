import { benchBoot } from './boot.ts';
import { benchBuild } from './build.ts';
import { benchCacheHit } from './cache-hit.ts';
import { benchDelta } from './delta.ts';
import { benchHup } from './hup.ts';
import { benchRollback } from './rollback.ts';
import { benchQualify } from './qualify.ts';
import { benchPowercut } from './powercut.ts';
import { benchProfiles } from './profiles.ts';
import { benchAdvanced } from './advanced.ts';
import { benchTar } from './tar.ts';
import { benchFleet } from './fleet.ts';

/** `npm run bench [-- boot|build|cache-hit|hup|delta|rollback|qualify|powercut|profiles|advanced|fleet|tar]`: prints each figure as markdown, ready for the README. */
const which = process.argv[2] ?? 'all';
const out: string[] = [`huplab benchmarks, ${new Date().toISOString()}, ${process.platform} ${process.arch}`];
if (which === 'all' || which === 'build') out.push(await benchBuild());
if (which === 'all' || which === 'cache-hit') out.push(await benchCacheHit());
if (which === 'all' || which === 'boot') out.push(await benchBoot());
if (which === 'all' || which === 'delta') out.push(await benchDelta());
if (which === 'all' || which === 'hup') out.push(await benchHup());
if (which === 'all' || which === 'rollback') out.push(await benchRollback());
if (which === 'all' || which === 'qualify') out.push(await benchQualify());
if (which === 'all' || which === 'powercut') out.push(await benchPowercut());
if (which === 'all' || which === 'profiles') out.push(await benchProfiles());
if (which === 'advanced') out.push(await benchAdvanced());
if (which === 'fleet') out.push(await benchFleet());
if (which === 'all' || which === 'tar') out.push(await benchTar());
console.log(out.join('\n\n'));
