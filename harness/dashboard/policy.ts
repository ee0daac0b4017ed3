/**
 * GET /v1/policy[?deviceType=T][&at=DATE]: the support policy (lib/release-policy.ts) at a date,
 * today by default, for the Releases page and the versions dialogs' verdicts: each release's line,
 * phase, end of life, and the targets allowed from it, guaranteed or not.
 */
import { deviceTypesOf, parsePolicyDate, policyReport, type ReleaseFacts } from '../../lib/release-policy.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { loadReleases, releaseFacts } from '../../images/recipe.ts';
import { json, type Reply } from '../backend/reply.ts';

/** Where the release facts come from (default: the recipes, read once). */
export type FactsSource = () => Promise<readonly ReleaseFacts[]>;

export function recipeFacts(): FactsSource {
  let facts: Promise<readonly ReleaseFacts[]> | undefined;
  return () => {
    facts ??= loadReleases().then(releaseFacts);
    facts.catch(() => {
      facts = undefined;
    });
    return facts;
  };
}

export async function policyReply(facts: FactsSource, query: URLSearchParams, now = new Date()): Promise<Reply> {
  let at = now;
  const asked = query.get('at');
  try {
    if (asked !== null) at = parsePolicyDate(asked, 'at');
  } catch (err) {
    return json(400, { error: isHuplabError(err) ? err.oneLine() : (err as Error).message });
  }
  const all = await facts();
  const known = deviceTypesOf(all);
  const type = query.get('deviceType');
  if (type !== null && !known.includes(type))
    return json(404, { error: `no release is for device type "${type}" (device types: ${known.join(', ')})` });
  return json(200, policyReport(all, type !== null ? [type] : known, at));
}
