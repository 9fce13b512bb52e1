/**
 * The panel's stylesheet, scoped by the shadow root. Everything the panel shows
 * is styled here, so host page CSS cannot reach it (inherited properties stop
 * at the host, which is reset with `all: initial`).
 */

export const PANEL_CSS = `
.panel{position:fixed;bottom:88px;right:20px;width:380px;height:640px;max-height:calc(100vh - 108px);display:flex;flex-direction:column;background:#fff;color:#1f2328;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.24);overflow:hidden;text-align:left;direction:ltr}
[data-position=left] .panel{right:auto;left:20px}
.panel[hidden],.panel [hidden]{display:none!important}
.panel.full{top:0;left:0;right:0;bottom:auto;width:100%;height:100vh;height:100dvh;max-height:none;border-radius:0;box-shadow:none}
@media (max-width:480px){.panel{top:0;left:0;right:0;bottom:auto;width:100%;height:100vh;height:100dvh;max-height:none;border-radius:0}}
.head{display:flex;align-items:center;gap:6px;padding:12px 10px 12px 16px;background:var(--chatd-color);color:var(--chatd-on-color);flex:none}
.titles{flex:1;min-width:0}
.title{margin:0;font-size:15px;font-weight:600;line-height:1.3}
.agent{font-size:12px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.hbtn{all:unset;cursor:pointer;padding:6px 8px;border-radius:6px;font-size:13px;line-height:1.2;color:inherit}
.hbtn:hover{background:rgba(127,127,127,.2)}
.hbtn:focus-visible{outline:2px solid currentColor;outline-offset:1px}
.x{font-size:20px;padding:2px 8px}
[data-mode=page] .x{display:none}
.banner{padding:6px 16px;font-size:12px;background:#fff8c5;color:#5c4a00;flex:none}
.banner.err{background:#ffebe9;color:#a40e26}
.queue{padding:8px 16px;background:#ddf4ff;color:#0a3069;font-size:13px;flex:none}
.chat{flex:1;display:flex;flex-direction:column;min-height:0}
.log{flex:1;min-height:0;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:8px;overscroll-behavior:contain;background:#f6f8fa;-webkit-overflow-scrolling:touch}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:84%;align-self:flex-start}
.msg.mine{align-self:flex-end;align-items:flex-end}
.who{font-size:12px;color:#59636e;margin:0 4px 2px}
.bubble{padding:8px 12px;border-radius:14px;background:#fff;border:1px solid #d1d9e0;white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere;font-size:14px;line-height:1.5}
.mine .bubble{background:var(--chatd-color);color:var(--chatd-on-color);border-color:transparent}
.bubble a{color:inherit;text-decoration:underline}
.meta{font-size:11px;color:#59636e;margin:2px 4px 0;display:flex;gap:6px;align-items:center}
.failed .meta{color:#cf222e}
.link{all:unset;cursor:pointer;text-decoration:underline;color:#0969da}
.link:focus-visible{outline:2px solid #0969da}
.note{align-self:center;font-size:12px;color:#59636e;text-align:center;padding:2px 10px;max-width:90%}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.chip{all:unset;cursor:pointer;padding:5px 12px;border:1px solid var(--chatd-color);color:#1f2328;border-radius:16px;font-size:13px;line-height:1.4;background:#fff}
.chip:hover{background:#f6f8fa}
.chip:focus-visible{outline:2px solid var(--chatd-color);outline-offset:2px}
.typing{padding:4px 16px 6px;font-size:12px;color:#59636e;background:#f6f8fa;flex:none}
.suggest{padding:8px 12px;border-top:1px solid #d1d9e0;background:#fff;flex:none}
.label{font-size:12px;color:#59636e}
.card{margin:0;padding:14px 16px;border-top:1px solid #d1d9e0;background:#fff;display:flex;flex-direction:column;gap:8px;flex:none}
.hint{padding:4px 16px;font-size:12px;color:#59636e;background:#fff;flex:none}
.composer{display:flex;gap:8px;padding:10px 12px;border-top:1px solid #d1d9e0;background:#fff;align-items:flex-end;flex:none;padding-bottom:max(10px,env(safe-area-inset-bottom))}
.composer textarea{flex:1;resize:none;max-height:120px;min-height:40px}
.form{flex:1;min-height:0;overflow-y:auto;padding:18px 16px;display:flex;flex-direction:column;gap:12px;background:#fff;margin:0}
.form p{margin:0;font-size:14px}
label{display:flex;flex-direction:column;gap:4px;font-size:13px;color:#1f2328}
input,textarea{font:inherit;font-size:16px;line-height:1.4;padding:8px 10px;border:1px solid #d1d9e0;border-radius:8px;background:#fff;color:#1f2328;width:100%;margin:0;box-shadow:none}
input:focus,textarea:focus{outline:2px solid var(--chatd-color);outline-offset:-1px}
[aria-invalid=true]{border-color:#cf222e}
.btn{all:unset;cursor:pointer;text-align:center;padding:9px 16px;border-radius:8px;background:var(--chatd-color);color:var(--chatd-on-color);font-weight:600;font-size:14px;line-height:1.4}
.btn:focus-visible{outline:2px solid var(--chatd-color);outline-offset:2px}
.btn[disabled]{opacity:.45;cursor:default}
.btn.plain{background:transparent;color:#0969da;font-weight:400}
.error{color:#cf222e;font-size:12px;min-height:0}
.pad{padding:0 16px}
.contents{display:contents}
.flat{margin:0}
.ok{color:#1a7f37;font-size:14px}
.stars{display:flex;gap:2px}
.star{all:unset;cursor:pointer;font-size:30px;line-height:1;color:#d1d9e0;padding:0 2px}
.star.on{color:#f5a623}
.star:focus-visible{outline:2px solid var(--chatd-color);border-radius:4px}
.sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;margin:-1px;padding:0;border:0}
@media (prefers-reduced-motion:no-preference){.panel{animation:chatd-in .16s ease-out}}
[data-mode=page] .panel{animation:none}
@keyframes chatd-in{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}
`;
