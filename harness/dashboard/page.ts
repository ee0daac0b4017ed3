/** The page's HTML: a shell that loads the bundled script and style; everything else is the script's. */
import { DASHBOARD_PATHS } from './wire.ts';

export function pageHtml(bundle: { scriptSha: string; styleSha: string }): string {
  const v = (sha: string) => sha.slice(0, 16);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>huplab lab</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DASHBOARD_PATHS.style}?v=${v(bundle.styleSha)}">
<script type="module" src="${DASHBOARD_PATHS.script}?v=${v(bundle.scriptSha)}"></script>
</head>
<body>
<div id="app"><p>Loading the lab dashboard...</p></div>
<noscript>The lab dashboard needs JavaScript.</noscript>
</body>
</html>
`;
}
