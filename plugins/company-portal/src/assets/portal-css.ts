/**
 * The portal's one stylesheet (served with a content hash, cached for a year). `--brand` and `--on-brand` come
 * from config and are prepended by assets.ts. Mobile first; system fonts; no web fonts or images to download.
 */
export const PORTAL_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:17px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",system-ui,sans-serif;color:#1b1b1f;background:#f3f4f6;min-height:100vh;display:flex;flex-direction:column}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid #1b1b1f;outline-offset:2px;box-shadow:0 0 0 5px #fff}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.5rem 1rem;z-index:2}
.skip:focus{left:.5rem}
.bar{background:var(--brand);color:var(--on-brand);padding:calc(.6rem + env(safe-area-inset-top)) 1rem .6rem;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
.brand{color:inherit;text-decoration:none;font-weight:600;display:flex;align-items:center;gap:.5rem;margin-right:auto}
.brand img{height:28px;width:auto}
.bar nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0;align-items:center}
.bar nav a,.bar nav button{color:inherit;font:inherit;font-size:.95rem}
.bar form{margin:0}
.linkish{background:none;border:0;padding:0;text-decoration:underline;cursor:pointer}
main{flex:1;width:100%;max-width:40rem;margin:0 auto;padding:1rem 1rem 2rem}
main:focus{outline:none}
h1{font-size:1.6rem;line-height:1.2;margin:.6rem 0 .8rem}
h2{font-size:1.2rem;margin:1.6rem 0 .6rem}
h3{font-size:1.05rem;margin:1rem 0 .4rem}
.lead{font-size:1.05rem;color:#3a3a44}
.card{background:#fff;border-radius:14px;padding:1rem 1.1rem;margin:1rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card>:first-child{margin-top:0}.card>:last-child{margin-bottom:0}
.button{display:inline-block;width:100%;text-align:center;background:var(--brand);color:var(--on-brand);border:0;border-radius:12px;padding:.9rem 1rem;font:inherit;font-weight:600;text-decoration:none;cursor:pointer;min-height:48px}
.button.secondary{background:#fff;color:#1b1b1f;border:2px solid #6b6b76}
.button.danger{background:#b3261e;color:#fff}
.inline{display:flex;gap:.5rem;align-items:flex-end;flex-wrap:wrap}
.inline .button{width:auto}
label{display:block;font-weight:600;margin-bottom:.3rem}
input[type=text]{font:inherit;padding:.7rem;border:2px solid #6b6b76;border-radius:10px;width:100%;min-height:48px}
.field{flex:1;min-width:12rem}
.alert{border-left:6px solid #b3261e;background:#fdecea;padding:.8rem 1rem;border-radius:8px;margin:1rem 0}
.alert.info{border-color:var(--brand);background:#eef3fb}
.alert.ok{border-color:#1e7b34;background:#e9f6ec}
.cols{display:grid;gap:.2rem 1rem}
@media (min-width:36rem){.cols{grid-template-columns:1fr 1fr}}
ul.check,ul.cross{padding-left:0;list-style:none;margin:.3rem 0}
ul.check li,ul.cross li{padding-left:1.6rem;position:relative;margin:.3rem 0}
ul.check li::before{content:"\\2713";position:absolute;left:0;color:#1e7b34;font-weight:700}
ul.cross li::before{content:"\\2715";position:absolute;left:0;color:#b3261e;font-weight:700}
ol.steps{padding-left:0;list-style:none;counter-reset:step;margin:0}
ol.steps>li{counter-increment:step;margin:1rem 0;display:grid;grid-template-columns:2rem 1fr;gap:.2rem .6rem}
ol.steps>li::before{content:counter(step);background:var(--brand);color:var(--on-brand);width:2rem;height:2rem;border-radius:50%;display:grid;place-items:center;font-weight:700}
ol.steps figure{grid-column:2;margin:.5rem 0 0}
ol.steps img{width:100%;max-width:300px;height:auto;border-radius:12px;border:1px solid #d0d0d7;background:#f2f2f7}
.progress{list-style:none;padding:0;margin:0}
.progress li{display:grid;grid-template-columns:1.8rem 1fr auto;align-items:center;gap:.6rem;padding:.7rem 0;border-bottom:1px solid #e3e3e8}
.progress li:last-child{border-bottom:0}
.dot{width:1.4rem;height:1.4rem;border-radius:50%;border:3px solid #8e8e99}
[data-step=done] .dot{background:#1e7b34;border-color:#1e7b34}
[data-step=active] .dot{border-color:var(--brand);border-right-color:transparent;animation:spin 1s linear infinite}
[data-step=failed] .dot{background:#b3261e;border-color:#b3261e}
.state{font-size:.85rem;color:#4a4a55}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){[data-step=active] .dot{animation:none;border-style:dotted}}
.headline{font-size:1.25rem;font-weight:700;margin:.2rem 0}
.devices{list-style:none;padding:0;margin:0}
.devices li{margin:.7rem 0}
.devices a{display:block;background:#fff;border-radius:14px;padding:.9rem 1.1rem;text-decoration:none;color:inherit;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.devices .name{font-weight:600;color:var(--link);text-decoration:underline}
.muted{color:#4a4a55;font-size:.92rem}
dl.facts{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:0}
dl.facts dt{color:#4a4a55}
dl.facts dd{margin:0;word-break:break-word}
.tone-ok{color:#1e7b34}.tone-info{color:#1b1b1f}.tone-warning{color:#8a5300}.tone-critical{color:#b3261e}
footer{padding:1rem;text-align:center;font-size:.9rem;color:#3a3a44;padding-bottom:calc(1rem + env(safe-area-inset-bottom))}
footer p{margin:.2rem 0}
`;
