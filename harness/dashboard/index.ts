/**
 * The lab dashboard, server side: the page bundle, the live feed over the API's records, the
 * event-stream sessions and the routes that serve them on the API's port. The lab server prepares
 * it before the backend starts (the routes go in as the backend's apiExtension) and stops it
 * with the backend. The page itself is ui/.
 */
import type { DeviceRecords } from '../backend/device-records.ts';
import type { ServerExtension } from '../backend/serve.ts';
import { dashboardBundle } from './bundle.ts';
import { LiveFeed, type LiveFeedOptions } from './live.ts';
import { type FactsSource, recipeFacts } from './policy.ts';
import { type ConsoleSource, dashboardRoutes } from './routes.ts';
import { Sessions } from './sessions.ts';
import { watchRecords } from './watch.ts';

export { DASHBOARD_PATHS } from './wire.ts';

export interface Dashboard {
  /** The records to give the API: the same, with each write telling the live feed. */
  records: DeviceRecords;
  /** The routes to give the backend (StartBackendOptions.apiExtension). */
  extension: ServerExtension;
  feed: LiveFeed;
  /** Ends the event streams and the feed's timers. */
  stop(): void;
}

export interface PrepareDashboardOptions {
  records: DeviceRecords;
  /** The release facts of the policy report (default: the recipes). */
  facts?: FactsSource;
  live?: LiveFeedOptions;
  /** The devices' serial consoles (the lab server's, harness/server/consoles.ts); none by default. */
  consoles?: ConsoleSource;
}

export async function prepareDashboard(opts: PrepareDashboardOptions): Promise<Dashboard> {
  const bundle = await dashboardBundle();
  const watched = watchRecords(opts.records);
  const feed = new LiveFeed(opts.records, opts.live);
  const unwatch = watched.onChange((uuid) => feed.changed(uuid));
  const extension = dashboardRoutes({
    bundle,
    feed,
    sessions: new Sessions(),
    facts: opts.facts ?? recipeFacts(),
    isDevice: (uuid) => opts.records.info(uuid) !== undefined,
    ...(opts.consoles ? { consoles: opts.consoles } : {}),
  });
  return {
    records: watched.records,
    extension,
    feed,
    stop() {
      unwatch();
      feed.stop();
    },
  };
}

/** The dashboard's address on the API's URL; with the operator token in the fragment (never sent to the server). */
export function dashboardUrl(apiUrl: string, token?: string): string {
  return `${apiUrl}/${token ? `#token=${encodeURIComponent(token)}` : ''}`;
}
