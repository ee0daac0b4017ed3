/**
 * The releases the suites update between, unless HUPLAB_BASE_RELEASE / HUPLAB_NEXT_RELEASE /
 * HUPLAB_PATCH_RELEASE say otherwise (`huplab qualify` sets them). One place, so that the
 * fixtures and the report say the same thing.
 */
export const SUITE_RELEASES = {
  base: process.env.HUPLAB_BASE_RELEASE ?? '2.101.0',
  next: process.env.HUPLAB_NEXT_RELEASE ?? '2.102.0',
  patch: process.env.HUPLAB_PATCH_RELEASE ?? '2.102.1',
};
