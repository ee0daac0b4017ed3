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
  /** The delta format applied (told apart by the file's first bytes). */
  format: 1 | 2;
  filesFromDelta: number;
  filesFromBase: number;
  /** Content bytes written to regular files in the target. */
  bytesWritten: number;
}
