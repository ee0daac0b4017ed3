/**
 * The delta applier alone, bundled and run in its own Node process by bench/delta.ts so that its
 * peak memory (maxRSS) is the device's: `node <bundle> <delta> <baseRoot> <targetRoot>` prints
 * one JSON line. With no arguments it only reports the bare process (the runtime's own share).
 */
import { applyDelta } from '../lib/delta/index.ts';

const [delta, baseRoot, targetRoot] = process.argv.slice(2);
const started = Date.now();
const result = delta && baseRoot && targetRoot ? await applyDelta({ delta, baseRoot, targetRoot }) : undefined;
console.log(JSON.stringify({ ms: Date.now() - started, maxRssKiB: process.resourceUsage().maxRSS, result }));
