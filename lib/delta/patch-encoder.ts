import { pushVarint, zigzag } from './varint.ts';

/**
 * Host side of the binary patch codec (format: patch-decoder.ts): the bsdiff idea (Percival,
 * "Naive differences of executable code") with a hash index instead of a suffix array.
 * Executables that were rebuilt differ in a slowly drifting set of addresses, so a new file is
 * best described as long stretches of "old bytes plus a small difference" (mostly zero bytes,
 * which compress to almost nothing) separated by short runs of new bytes. Exact-match finders
 * (xdelta3, zstd) cut those stretches into many short copies instead.
 *
 * Matching: every position of the old file is indexed by a hash of its next SEED bytes (one
 * slot per hash: the last position wins); a position of the new file is looked up, checked and
 * extended. That finds the same long matches a suffix array finds at a fraction of the time and
 * memory (4 bytes per slot), at the cost of sometimes missing a longer one.
 */

const SEED = 8;
/** Bound on one extension, so a long run of equal bytes cannot make the search quadratic. */
const MAX_EXTEND = 1 << 16;

export interface PatchOp {
  /** Bytes taken from the old file (plus a difference) at the current old position. */
  copy: number;
  /** New bytes that follow. */
  extra: number;
  /** Added to the old position after the copy. */
  seek: number;
}

export interface PatchPlan {
  ops: PatchOp[];
  /** New bytes plus non-zero difference bytes: a rough measure of what compression is left with. */
  cost: number;
}

function hashAt(b: Buffer, p: number, shift: number): number {
  const x = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
  const y = b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24);
  return (Math.imul(x, 0x9e3779b1) ^ Math.imul(y ^ (x >>> 15), 0x85ebca77)) >>> shift;
}

class OldIndex {
  private readonly slots: Int32Array;
  private readonly shift: number;

  constructor(private readonly old: Buffer) {
    const bits = Math.min(25, Math.max(10, Math.ceil(Math.log2(Math.max(1, old.length)))));
    this.shift = 32 - bits;
    this.slots = new Int32Array(1 << bits).fill(-1);
    for (let p = 0; p + SEED <= old.length; p++) this.slots[hashAt(old, p, this.shift)] = p;
  }

  /** Where the last search matched (no object per call: this runs once per byte). */
  pos = 0;

  /** The length of a match for neu[at..] (its old position in `pos`), 0 if none. */
  search(neu: Buffer, at: number): number {
    this.pos = 0;
    if (at + SEED > neu.length) return 0;
    const pos = this.slots[hashAt(neu, at, this.shift)]!;
    if (pos < 0) return 0;
    const len = matchLength(this.old, pos, neu, at);
    if (len < SEED) return 0;
    this.pos = pos;
    return len;
  }
}

function matchLength(a: Buffer, ap: number, b: Buffer, bp: number): number {
  const max = Math.min(a.length - ap, b.length - bp, MAX_EXTEND);
  let n = 0;
  while (n < max && a[ap + n] === b[bp + n]) n++;
  return n;
}

/** The patch that turns `old` into `neu`, as a list of operations (see PatchOp). */
export function planPatch(old: Buffer, neu: Buffer): PatchPlan {
  const index = new OldIndex(old);
  const ops: PatchOp[] = [];
  const oLen = old.length;
  const nLen = neu.length;
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  let cost = 0;
  while (scan < nLen) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < nLen; scan++) {
      len = index.search(neu, scan);
      pos = index.pos;
      // How well the current alignment (lastOffset) explains the same stretch.
      for (; scsc < scan + len; scsc++) {
        if (scsc + lastOffset >= 0 && scsc + lastOffset < oLen && old[scsc + lastOffset] === neu[scsc]) oldScore++;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset >= 0 && scan + lastOffset < oLen && old[scan + lastOffset] === neu[scan]) oldScore--;
    }
    if (len === oldScore && scan !== nLen) continue;
    if (scan >= nLen) {
      scan = nLen;
      len = 0;
    }
    // Extend the previous match forwards and this one backwards while at least half the
    // bytes agree; what lies between becomes new bytes.
    let s = 0;
    let best = 0;
    let lenF = 0;
    for (let i = 0; lastScan + i < scan && lastPos + i < oLen; ) {
      if (old[lastPos + i] === neu[lastScan + i]) s++;
      i++;
      if (s * 2 - i > best * 2 - lenF) {
        best = s;
        lenF = i;
      }
    }
    let lenB = 0;
    if (scan < nLen) {
      s = 0;
      best = 0;
      for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
        if (old[pos - i] === neu[scan - i]) s++;
        if (s * 2 - i > best * 2 - lenB) {
          best = s;
          lenB = i;
        }
      }
    }
    if (lastScan + lenF > scan - lenB) {
      const overlap = lastScan + lenF - (scan - lenB);
      s = 0;
      best = 0;
      let lenS = 0;
      for (let i = 0; i < overlap; i++) {
        if (neu[lastScan + lenF - overlap + i] === old[lastPos + lenF - overlap + i]) s++;
        if (neu[scan - lenB + i] === old[pos - lenB + i]) s--;
        if (s > best) {
          best = s;
          lenS = i + 1;
        }
      }
      lenF += lenS - overlap;
      lenB -= lenS;
    }
    const extra = scan - lenB - (lastScan + lenF);
    for (let i = 0; i < lenF; i++) if (neu[lastScan + i] !== old[lastPos + i]) cost++;
    cost += extra;
    const nextPos = scan < nLen ? pos - lenB : lastPos + lenF;
    ops.push({ copy: lenF, extra, seek: nextPos - (lastPos + lenF) });
    lastScan = scan - lenB;
    lastPos = nextPos;
    lastOffset = pos - scan;
  }
  return { ops, cost };
}

/** Bytes per yielded piece: small operations are batched up to this size. */
const PIECE = 1 << 16;

/**
 * The patch stream of a plan: for each operation its control words (varints: copy, extra,
 * zigzag(seek)), then `copy` difference bytes (new - old, modulo 256), then `extra` new bytes.
 */
export function* patchBytes(plan: PatchPlan, old: Buffer, neu: Buffer): Generator<Buffer> {
  let n = 0;
  let o = 0;
  let pending: number[] = [];
  for (const op of plan.ops) {
    pushVarint(pending, op.copy);
    pushVarint(pending, op.extra);
    pushVarint(pending, zigzag(op.seek));
    for (let done = 0; done < op.copy; ) {
      const take = Math.min(PIECE, op.copy - done);
      const diff = Buffer.allocUnsafe(take);
      for (let i = 0; i < take; i++) diff[i] = (neu[n + done + i]! - old[o + done + i]!) & 0xff;
      if (pending.length) {
        yield Buffer.from(pending);
        pending = [];
      }
      yield diff;
      done += take;
    }
    n += op.copy;
    o += op.copy;
    if (op.extra) {
      if (pending.length) {
        yield Buffer.from(pending);
        pending = [];
      }
      yield neu.subarray(n, n + op.extra);
    }
    n += op.extra;
    o += op.seek;
  }
  if (pending.length) yield Buffer.from(pending);
}
