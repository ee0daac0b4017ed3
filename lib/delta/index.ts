/**
 * huplab's file-level delta between two root filesystems (format: see format.ts), and the
 * full-layer write. Runs on the device: node: built-ins only.
 */
export { applyDelta, readDeltaManifest, type ApplyDeltaResult, type ApplyProgress } from './apply.ts';
export { applyLayer } from './apply-layer.ts';
export { createDelta, planDelta, type CreateDeltaResult } from './create.ts';
export {
  DELTA_FORMAT,
  MANIFEST_NAME,
  parseManifest,
  type DeltaEntry,
  type DeltaManifest,
  type LayerEntry,
} from './format.ts';
export { listLayer } from './layer.ts';
