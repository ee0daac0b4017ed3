import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { labDir } from '../../lib/paths.ts';
import { openLab } from '../lab.ts';
import { dashboardUrl } from '../dashboard/index.ts';
import { type LabServer, serverStatus, startLabServer, STORE_FILE, stopLabServer } from '../server/lab-server.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { seconds } from './validate.ts';

interface ServeOpts {
  stop?: boolean;
  status?: boolean;
  timeout: string;
  json?: boolean;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * `huplab serve`: the lab's persistent backend, until Ctrl-C, SIGTERM or `huplab serve --stop`;
 * `--status` says whether it runs and where.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      "run the lab's backend (API, registries, delta service) on loopback until stopped, its state kept in the lab folder",
    )
    .option('--stop', 'stop the server of this lab (from another shell) and wait until it is gone')
    .option('--status', 'say whether a server runs for this lab, and where')
    .option('--timeout <seconds>', 'with --stop: how long to wait for it to exit', '15')
    .option('--json', 'print the result as JSON')
    .action(
      run(
        async (o: ServeOpts) => {
          const out = makeOutput(!!o.json);
          if (o.stop && o.status)
            throw new HuplabError('usage', '--stop and --status cannot be given together', {
              hint: 'give one of them, or neither to run the server',
            });
          const timeoutS = seconds('timeout', o.timeout);
          const dir = labDir();
          if (o.status) {
            const s = existsSync(dir) ? serverStatus(dir) : { running: false, lab: dir };
            out.result(s, () =>
              s.running && 'server' in s && s.server
                ? [
                    `lab server running (pid ${s.server.pid}, since ${s.server.startedAt}) for ${dir}`,
                    ...Object.entries(s.server.urls).map(([k, v]) => `  ${k.padEnd(16)} ${v}`),
                    ...(s.server.dashboard ? [`  ${'dashboard'.padEnd(16)} ${s.server.dashboard}`] : []),
                  ]
                : [
                    s.running
                      ? `lab server starting for ${dir}`
                      : `no lab server runs for ${dir}${'stale' in s && s.stale ? ` (pid ${s.stale.pid} is gone; its record was left behind)` : ''}`,
                  ],
            );
            return 0;
          }
          if (o.stop) {
            if (!existsSync(dir))
              throw new HuplabError('server-not-running', `no lab server runs for ${dir}`, {
                hint: 'start one with `huplab serve`',
              });
            const { pid } = await stopLabServer(dir, timeoutS * 1000);
            out.result({ stopped: true, pid, lab: dir }, () => [`lab server (pid ${pid}) stopped for ${dir}`]);
            return 0;
          }
          return serve(out);
        },
        { interruptions: 'command' },
      ),
    );
}

/** Runs the server until a signal, then stops it cleanly; exit 0. */
async function serve(out: ReturnType<typeof makeOutput>): Promise<number> {
  // Listening before the server starts: a signal meanwhile stops it as soon as it is up.
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    let seen = false;
    onSignal = (signal) => {
      if (seen) {
        process.stderr.write(`huplab: ${signal} again: exiting without closing the lab server cleanly\n`);
        process.exit(1);
      }
      seen = true;
      resolve(signal);
    };
  });
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const lab = openLab();
    const server = await startLabServer(lab, { narrator: out.narrator });
    return await untilStopped(out, lab.dir, server, stopped);
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
}

async function untilStopped(
  out: ReturnType<typeof makeOutput>,
  dir: string,
  server: LabServer,
  stopped: Promise<NodeJS.Signals>,
): Promise<number> {
  const r = server.record;
  // The token only in the line a person reads on the terminal: the JSON result (often kept in a
  // file) and server.json carry the page's address without it.
  out.result({ lab: dir, ...r }, () => [
    `lab server running (pid ${r.pid}) for ${dir}; state in ${join(dir, STORE_FILE)}`,
    ...Object.entries(r.urls).map(([k, v]) => `  ${k.padEnd(16)} ${v}`),
    `  dashboard        ${dashboardUrl(r.urls.api, server.backend.auth.operatorToken)}`,
    `  operator token   ${join(dir, 'operator-token')}`,
    'Ctrl-C or `huplab serve --stop` stops it',
  ]);
  const signal = await stopped;
  await server.stop();
  process.stderr.write(`huplab: lab server stopped (${signal})\n`);
  return 0;
}
