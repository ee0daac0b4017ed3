/** The report's stylesheet, inlined in report.html (the file must stand alone). */
export const STYLES = `
:root { --pass: #1a7f37; --fail: #cf222e; --infra: #8250df; --flaky: #bf8700; --skip: #6e7781; --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem 4rem; color: #1f2328; }
h1 { font-size: 1.5rem; margin: .2rem 0; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; } h4 { margin: .8rem 0 .3rem; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: .5rem; overflow-x: auto; white-space: pre-wrap; word-break: break-word; margin: .3rem 0; }
pre.error { border-color: var(--fail); background: #fff5f5; }
.muted { color: var(--skip); }
.meta { color: #424a53; margin: .2rem 0; }
.badge { display: inline-block; border-radius: 1em; padding: 0 .6em; font-size: 12px; font-weight: 600; color: #fff; background: var(--skip); white-space: nowrap; }
.b-passed { background: var(--pass); } .b-product, .b-failed, .b-timedOut { background: var(--fail); } .b-infrastructure, .b-interrupted { background: var(--infra); }
.b-flaky { background: var(--flaky); } .b-skipped { background: var(--skip); }
.b-ok { background: var(--pass); } .b-fail { background: var(--fail); }
.totals { display: flex; flex-wrap: wrap; gap: .5rem; padding: 0; list-style: none; }
.totals li { border: 1px solid var(--line); border-radius: 6px; padding: .3rem .8rem; }
.totals b { font-size: 1.3rem; display: block; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: .25rem .5rem; vertical-align: top; }
table.checks td:first-child { width: 3rem; } table.facts th { width: 12rem; } table.checks td:nth-child(2) { width: 40%; }
details { margin: .3rem 0; }
summary { cursor: pointer; }
details.test { border: 1px solid var(--line); border-left: 6px solid var(--skip); border-radius: 6px; padding: .4rem .8rem; margin: .6rem 0; }
details.test > summary { font-weight: 600; }
details.o-passed { border-left-color: var(--pass); } details.o-product { border-left-color: var(--fail); }
details.o-infrastructure { border-left-color: var(--infra); } details.o-flaky { border-left-color: var(--flaky); }
details.attempt { border-top: 1px dashed var(--line); padding-top: .3rem; }
details.log > summary, details.attempt > summary { font-family: ui-monospace, monospace; font-size: 13px; }
.cut { display: block; background: #fff8c5; border: 1px dashed var(--flaky); padding: .2rem .4rem; margin: .3rem 0; font-weight: 600; }
.check-ok { color: var(--pass); font-weight: 600; } .check-fail { color: var(--fail); font-weight: 600; }
.timeline { border: 1px solid var(--line); border-radius: 4px; padding: .4rem; margin: .3rem 0; }
.tl-row { display: grid; grid-template-columns: 11rem 1fr 4.5rem minmax(8rem, 18rem); gap: .5rem; align-items: center; font-size: 12px; }
.tl-name { font-family: ui-monospace, monospace; }
.tl-track { position: relative; height: 12px; background: var(--soft); border-radius: 2px; }
.tl-bar { position: absolute; top: 0; bottom: 0; min-width: 2px; background: #0969da; border-radius: 2px; }
.tl-failed .tl-bar { background: var(--fail); } .tl-failed .tl-name { color: var(--fail); font-weight: 600; }
.tl-sec { text-align: right; font-variant-numeric: tabular-nums; }
.tl-detail { color: #424a53; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tl-total { font-size: 12px; color: #424a53; margin-top: .2rem; }
`;
