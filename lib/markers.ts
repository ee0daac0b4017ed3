/**
 * The boot chain's console markers moved to lib/contract/markers.ts; this path stays until the
 * harness imports them from there.
 */
export { FIRMWARE_HINTS, MARKERS } from './contract/markers.ts';
