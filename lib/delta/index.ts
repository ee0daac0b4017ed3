/**
 * huplab's delta between two root filesystems (format 1: file-level, format.ts; format 2:
 * binary patches and a compact listing, format2.ts), and the full-layer write. Runs on the
 * device: node: built-ins only.
 */
export {
  applyDelta,
  deltaFormatOf,
  readDeltaManifest,
  type ApplyDeltaResult,
  type ApplyProgress,
} from './apply.ts';
export { applyLayer } from './apply-layer.ts';
export { createDelta, planDelta, type CreateDeltaResult } from './create.ts';
export { createDelta2, type CreateDelta2Result } from './create2.ts';
export {
  DELTA_FORMAT,
  MANIFEST_NAME,
  parseManifest,
  type DeltaEntry,
  type DeltaManifest,
  type LayerEntry,
} from './format.ts';
export { DELTA_FORMAT_2, parseManifest2, type DeltaManifest2 } from './format2.ts';
export { listLayer } from './layer.ts';

/** The delta formats this code reads (the updater says so to the delta service). */
export const DELTA_FORMATS_READ = [1, 2] as const;
