/**
 * Progress of a resinOS 1.x update at the API: the field's percentages and words
 * (lib/contract/onex.ts), through the same device progress endpoint the 2.x updaters use
 * (the field's 1.x script PATCHed the device resource; the API keeps one history either way).
 */
import type { DeviceConfig } from '../common/config.ts';
import { ProgressReporter } from '../common/progress.ts';

export type OnexProgress = ProgressReporter;

export function onexProgress(config: DeviceConfig, log: (m: string) => void): OnexProgress {
  return new ProgressReporter(config, log);
}
