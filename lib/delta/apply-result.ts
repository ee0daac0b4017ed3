/** What applying a delta reports, whatever its format. */
export interface ApplyProgress {
  /** The file just written. */
  path: string;
  filesDone: number;
  filesTotal: number;
  bytesWritten: number;
  bytesTotal: number;
}

export interface ApplyDeltaResult {
  filesFromDelta: number;
  filesFromBase: number;
  /** Content bytes written to regular files in the target. */
  bytesWritten: number;
}
