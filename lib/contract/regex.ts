/** `text` as a regular expression that matches exactly it, for patterns built from literal markers. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
