/** Shell scripts the updater carries as text (esbuild's text loader, updater/bundle.ts). */
declare module '*.sh' {
  const text: string;
  export default text;
}
