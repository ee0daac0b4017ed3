/**
 * Where the updaters keep their logs on the device, and the words they report to the API while
 * they work: the update log's folder (and the field's legacy one, which operators of older
 * devices still look in), the download's running progress, and a failure's reason.
 */

/** The update logs' folder, as in the field (`upgrade-2.x.sh.<YYYYmmdd_HHMMSS>.log`, ...). */
export const UPDATE_LOG_DIR = '/mnt/data/balenahup';

/**
 * The field's legacy folder for the same logs: when it exists on the device, every update log
 * is written there too (the documents tell operators to look in either place).
 */
export const LEGACY_UPDATE_LOG_DIR = '/mnt/data/resinhup';

/** The last report of every failed update (the field's words; the dashboard shows it). */
export const UPDATE_FAILED = 'OS update failed';

/** Longest message the API takes. */
const MESSAGE_LIMIT = 1000;

/** The report just before UPDATE_FAILED: the one-line reason, so the API has it, not only the log. */
export function updateFailedReason(why: string): string {
  const text = `${UPDATE_FAILED}: ${why.replace(/\s*\r?\n\s*/g, ' ')}`;
  return text.length > MESSAGE_LIMIT ? `${text.slice(0, MESSAGE_LIMIT - 1)}…` : text;
}

/** The reason a failure report gave, or undefined for another message (the bare UPDATE_FAILED too). */
export function parseUpdateFailedReason(message: string): string | undefined {
  return message.startsWith(`${UPDATE_FAILED}: `) ? message.slice(UPDATE_FAILED.length + 2) : undefined;
}

/**
 * The message of a progress report during the download: how much of the new OS (the full image
 * or a delta) has arrived, e.g. "Downloading the new OS: 12.3 of 56.8 MB"; in kB (whole) when
 * the download is under a megabyte, as a small delta is: "Downloading the new OS (delta): 12 of
 * 42 kB".
 */
export function downloadProgressMessage(kind: 'delta' | 'full', bytes: number, total: number | undefined): string {
  const mb = (total ?? bytes) >= 1e6;
  const n = (b: number) => (mb ? (b / 1e6).toFixed(1) : String(Math.round(b / 1e3)));
  return `Downloading the new OS${kind === 'delta' ? ' (delta)' : ''}: ${n(bytes)} of ${total === undefined ? '?' : n(total)} ${mb ? 'MB' : 'kB'}`;
}

const DOWNLOAD_PROGRESS = /^Downloading the new OS( \(delta\))?: (\d+(?:\.\d)?) of (\d+(?:\.\d)?|\?) (MB|kB)$/;

/**
 * What a download progress message says, in megabytes as printed (a kB message divided by
 * 1000), or undefined for another message.
 */
export function parseDownloadProgress(
  message: string,
): { kind: 'delta' | 'full'; mb: number; totalMb: number | undefined } | undefined {
  const m = DOWNLOAD_PROGRESS.exec(message);
  if (!m) return undefined;
  const scale = m[4] === 'kB' ? 1e3 : 1;
  return {
    kind: m[1] ? 'delta' : 'full',
    mb: Number(m[2]) / scale,
    totalMb: m[3] === '?' ? undefined : Number(m[3]) / scale,
  };
}
