/** /admin/assets/admin.css. Colours keep a contrast of at least 4.5:1 on their backgrounds. */
export const ADMIN_CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1f;background:#f6f7f9}
a{color:#0b4fa8}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:10}
.top{display:flex;gap:1rem;align-items:center;background:#0b3d91;color:#fff;padding:.6rem 1.2rem}
.top .brand{font-weight:700}.top .who{margin-left:auto}
.signout button{background:transparent;color:#fff;border:1px solid #fff}
.frame{display:grid;grid-template-columns:14rem 1fr;min-height:calc(100vh - 3rem)}
nav{background:#fff;border-right:1px solid #d0d4dc;padding:1rem}
nav ul{list-style:none;margin:0;padding:0}nav li{margin:.2rem 0}
nav a{display:block;padding:.3rem .5rem;border-radius:4px;text-decoration:none}
nav a[aria-current="page"]{background:#e3ebf8;font-weight:700}
main{padding:1rem 2rem;max-width:72rem}
main.message{margin:3rem auto;max-width:40rem;background:#fff;padding:2rem;border-radius:8px}
h1{font-size:1.6rem;margin:.3rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
button,.button{font:inherit;padding:.35rem .8rem;border:1px solid #0b4fa8;border-radius:4px;background:#fff;color:#0b4fa8;cursor:pointer;text-decoration:none;display:inline-block}
button.primary,.button{background:#0b4fa8;color:#fff}
button.danger{border-color:#a4111b;color:#a4111b}
button:disabled{opacity:.6;cursor:wait}
:focus-visible{outline:3px solid #f0a30a;outline-offset:2px}
.muted{color:#555b66;font-size:.92em}.hint{color:#555b66;margin:.2rem 0}
.status{min-height:1.5em;font-weight:600}
.field{margin:.8rem 0}.field label,.field .label{display:block;font-weight:600;margin:0 0 .2rem}
.field input:not([type=checkbox]):not([type=radio]),.field textarea,.field select{width:100%;max-width:36rem;font:inherit;padding:.35rem;border:1px solid #767b85;border-radius:4px}
textarea.code{font-family:ui-monospace,monospace;font-size:.9em;max-width:50rem}
[aria-invalid="true"]{border-color:#a4111b !important;border-width:2px !important}
.field-error{color:#a4111b;margin:.2rem 0;font-weight:600}.field-error:empty{display:none}
.form-alert{color:#7a0b13;background:#fdecee;border-left:4px solid #a4111b;padding:.5rem .8rem;margin:.5rem 0}
.form-alert:empty{display:none}
fieldset{border:1px solid #d0d4dc;border-radius:6px;margin:1rem 0;padding:.5rem 1rem;background:#fff}
legend{font-weight:700;padding:0 .3rem}
.actions{display:flex;gap:.6rem;flex-wrap:wrap;align-items:flex-end;margin:1rem 0}
form.inline{display:inline-flex;gap:.4rem;align-items:flex-end;flex-wrap:wrap}
.steps{display:flex;gap:1rem;list-style:none;padding:0;counter-reset:step}
.steps li{counter-increment:step;color:#555b66}.steps li::before{content:counter(step) ". "}
.steps li[aria-current="step"]{color:#0b3d91;font-weight:700;text-decoration:underline}
.profiles{list-style:none;padding:0;max-width:52rem}
.profiles li{display:flex;gap:.6rem;align-items:center;background:#fff;border:1px solid #d0d4dc;border-radius:6px;padding:.5rem .8rem;margin:.4rem 0}
.profiles li.dragging{opacity:.5}
.profiles .handle{cursor:grab;font-size:1.2rem;padding:0 .3rem;border-radius:4px}
.profiles .priority{font-weight:700;min-width:1.5rem}.grow{flex:1}
.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;background:#fff;padding:.8rem;border-radius:6px;border:1px solid #d0d4dc}
.filters label{display:flex;flex-direction:column;font-weight:600;font-size:.9em}
.filters input,.filters select{font:inherit;padding:.3rem;border:1px solid #767b85;border-radius:4px}
table.list{border-collapse:collapse;width:100%;background:#fff;margin:1rem 0}
table.list th,table.list td{border-bottom:1px solid #d0d4dc;padding:.4rem .6rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:700;padding:.3rem 0}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
dl.details{display:grid;grid-template-columns:12rem 1fr;gap:.3rem 1rem;background:#fff;padding:1rem;border-radius:6px}
dl.details dt{font-weight:600}dl.details dd{margin:0}
dl.review{display:grid;grid-template-columns:12rem 1fr;gap:.3rem 1rem}dl.review dt{font-weight:600}dl.review dd{margin:0}
.checklist{list-style:none;padding:0}.checklist li{background:#fff;margin:.4rem 0;padding:.6rem .8rem;border-radius:6px;border-left:4px solid #0a6b2d}
.checklist li.todo{border-left-color:#a4111b}.checklist .mark{font-weight:700;margin-right:.4rem}
.tone-ok{color:#0a6b2d}.tone-info{color:#0b4fa8}.tone-warning{color:#7a4a00}.tone-critical{color:#a4111b;font-weight:700}
.error-chain{margin:0;padding-left:1.2rem;color:#7a0b13}
pre{background:#f0f1f4;padding:.5rem;overflow:auto;max-height:20rem}
.qr svg{width:16rem;height:16rem;background:#fff}
.danger-zone{margin-top:2rem;border-top:1px solid #d0d4dc;padding-top:1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(15rem,1fr));gap:1rem;margin:1rem 0}
.card{background:#fff;border:1px solid #d0d4dc;border-radius:6px;padding:.6rem 1rem}.card h2{margin-top:.2rem}
table.compact{margin:.4rem 0}table.compact th,table.compact td{padding:.25rem .5rem}.num{text-align:right}
.chart-pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem;align-items:start}
.chart{position:relative;height:20rem;background:#fff;border:1px solid #d0d4dc;border-radius:6px;padding:.5rem}
.chart.wide{height:18rem}
@media (max-width:60rem){.frame{grid-template-columns:1fr}nav{border-right:0;border-bottom:1px solid #d0d4dc}nav ul{display:flex;flex-wrap:wrap;gap:.3rem}main{padding:1rem}}
`;
