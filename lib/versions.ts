/**
 * balenaOS version order, one definition for the builder, the backend and the updater (which
 * runs on the device: no imports). Numeric parts are compared in turn; a pre-release or build
 * suffix (-beta1, +rev1) does not make a version newer, as the field updater decides "newer".
 * `sortVersions` breaks ties by the full string so that listings are stable.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[-+]/)[0]!
      .split('.')
      .map((n) => Number(n) || 0);
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function sortVersions(a: string, b: string): number {
  return compareVersions(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}
