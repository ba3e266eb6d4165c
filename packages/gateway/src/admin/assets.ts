// The console's stylesheet and its one small script, served from /admin/assets/ (the CSP allows no inline code).

export const STYLESHEET = `
:root { color-scheme: light; --ink: #1b2330; --muted: #5b6675; --line: #d9dee5; --accent: #0b5cad; --bad: #a4161a; --ok: #1d6b35; --warn-bg: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7f9; }
header { background: var(--ink); color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.2rem; align-items: center; }
header a, header button.link { color: #fff; }
header .brand { font-weight: 700; margin-right: auto; }
nav { display: flex; flex-wrap: wrap; gap: .3rem 1rem; align-items: center; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; word-break: break-word; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
section, .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem; margin: 0 0 1rem; }
section > :first-child, .card > :first-child { margin-top: 0; }
section > :last-child, .card > :last-child { margin-bottom: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.name { word-break: break-word; max-width: 18rem; }
td .id { display: block; color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; word-break: break-all; }
form.inline { display: inline; }
.row { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .9rem; font-weight: 600; }
label.check { flex-direction: row; align-items: center; gap: .4rem; font-weight: 400; }
input[type=text], input[type=password], input[type=number], select { font: inherit; padding: .4rem .5rem; border: 1px solid #9aa4b1; border-radius: 4px; min-width: 10rem; max-width: 100%; }
button { font: inherit; padding: .4rem .9rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; padding: 0; text-decoration: underline; color: var(--accent); }
.spaced { margin-top: 1rem; }
.hint { color: var(--muted); font-size: .88rem; margin: .3rem 0 0; }
.error { border-left: 4px solid var(--bad); background: #fdecec; padding: .6rem .8rem; margin: 0 0 1rem; }
.notice { border-left: 4px solid var(--ok); background: #e8f5ec; padding: .6rem .8rem; margin: 0 0 1rem; }
.warn { border-left: 4px solid #c98a00; background: var(--warn-bg); padding: .6rem .8rem; margin: 0 0 1rem; }
.secret { display: block; padding: .7rem; background: #10161f; color: #d6f5d6; border-radius: 4px; font-size: 1rem; margin: .5rem 0; user-select: all; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; border: 1px solid var(--line); white-space: nowrap; }
.badge.live { border-color: #c2410c; color: #9a3412; }
.badge.revoked { border-color: var(--bad); color: var(--bad); }
.badge.valid { border-color: var(--ok); color: var(--ok); }
.chart { width: 100%; max-width: 44rem; height: auto; }
.legend { display: flex; gap: 1rem; font-size: .85rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
.swatch.live { background: #c2410c; } .swatch.test { background: #0b5cad; }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  section, .card { padding: .7rem; }
  input[type=text], input[type=password], select { min-width: 0; width: 100%; }
  .row > label { flex: 1 1 100%; }
  /* Tables of many columns become one card per row, each cell labelled. */
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack tr { display: block; border-bottom: 1px solid var(--line); padding: .4rem 0; }
  table.stack td { display: flex; gap: .6rem; border: none; padding: .15rem 0; max-width: none; }
  table.stack td::before { content: attr(data-label); flex: 0 0 5.5rem; font-weight: 600; color: var(--muted); font-size: .85rem; }
  table.stack td > * { min-width: 0; }
}
`;

/** Progressive enhancement only: every action works without it. */
export const SCRIPT = `
'use strict';
document.addEventListener('click', function (event) {
  var button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  var source = document.getElementById(button.getAttribute('data-copy'));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () { button.textContent = 'Copied'; });
});
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form.getAttribute('data-confirm');
  if (!question) return;
  if (!window.confirm(question)) { event.preventDefault(); return; }
  var confirmed = document.createElement('input');
  confirmed.type = 'hidden'; confirmed.name = 'confirm'; confirmed.value = 'yes';
  form.appendChild(confirmed);
});
document.querySelectorAll('button[data-copy][hidden]').forEach(function (button) {
  if (navigator.clipboard) button.hidden = false;
});
`;
