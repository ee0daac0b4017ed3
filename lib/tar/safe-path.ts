import { HuplabError } from '../errors.ts';

/**
 * Turns an archive path into a clean relative one ('etc/os-release', '.' for the root) or
 * refuses it: an absolute path or a '..' component would let an archive write outside the
 * directory it is extracted into.
 */
export function normalizeMemberPath(path: string): string {
  if (path.startsWith('/')) {
    throw new HuplabError('tar-unsafe-path', `archive member ${JSON.stringify(path)} is absolute`, {
      hint: 'refusing to write outside the target directory',
    });
  }
  if (path.includes('\0'))
    throw new HuplabError('tar-unsafe-path', `archive member ${JSON.stringify(path)} contains a NUL byte`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new HuplabError('tar-unsafe-path', `archive member ${JSON.stringify(path)} contains '..'`, {
        hint: 'refusing to write outside the target directory',
      });
    }
    parts.push(part);
  }
  return parts.length ? parts.join('/') : '.';
}
