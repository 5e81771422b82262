"""The inspector's stylesheet and script: shipped in the package, served by the app
(no CDN, no build step). The pages work without the script; it adds live updates
(the run's event stream), the state slider and refreshing listings."""

CSS = """
:root { --fg:#1d2329; --muted:#68727d; --line:#dde2e7; --accent:#2456c8; --bad:#b3261e;
        --ok:#1b7a3d; --wait:#9a6700; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
header.top { display:flex; gap:1.5rem; align-items:center; padding:.6rem 1.2rem;
             background:#fff; border-bottom:1px solid var(--line); }
header.top .brand { font-weight:700; }
header.top nav a { margin-right:1rem; color:var(--accent); text-decoration:none; }
main { padding: 1rem 1.2rem; max-width: 1200px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background:#fff; }
th, td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line);
         vertical-align: top; }
th { font-weight:600; color:var(--muted); font-size:.85rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
pre { margin:0; white-space: pre-wrap; word-break: break-word; }
.status { display:inline-block; padding:0 .45rem; border-radius:.6rem; font-size:.8rem;
          border:1px solid currentColor; }
.s-succeeded { color: var(--ok); } .s-failed, .s-cancelled { color: var(--bad); }
.s-suspended, .s-paused, .s-pending { color: var(--wait); } .s-running { color: var(--accent); }
.error { color: var(--bad); background:#fdecea; border:1px solid #f5c2bd; padding:.5rem .7rem;
         border-radius:.3rem; margin:.5rem 0; }
.note { color: var(--muted); }
form.inline { display:inline; }
form.filters { display:flex; flex-wrap:wrap; gap:.5rem; margin-bottom:1rem; align-items:end; }
form.filters label { display:flex; flex-direction:column; font-size:.8rem; color:var(--muted); }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding:.25rem .4rem; border:1px solid var(--line);
                          border-radius:.25rem; }
textarea { width: 100%; min-height: 4.5rem; }
button { padding:.25rem .8rem; border-radius:.25rem; border:1px solid var(--accent);
         background: var(--accent); color:#fff; cursor:pointer; }
button.secondary { background:#fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.card { background:#fff; border:1px solid var(--line); border-radius:.4rem; padding:.8rem 1rem;
        margin-bottom:1rem; }
.grid { display:grid; grid-template-columns: 11rem 1fr; gap:.25rem 1rem; }
meter.bar { width: 7rem; height: .6rem; }
tr.selected td { background: #eef3fd; }
.pager a { margin-right: .8rem; }
details summary { cursor: pointer; color: var(--accent); }
"""

JS = """
(function () {
  const base = document.body.dataset.base || "";
  // The run page: follow its event stream, add rows, keep the status current.
  const run = document.body.dataset.run;
  if (run && document.body.dataset.live === "1") {
    const table = document.getElementById("timeline-body");
    let last = parseInt(document.body.dataset.last || "0", 10);
    let statusAt = 0;  // the log position the status shown was read at
    const es = new EventSource(base + "/v1/runs/" + encodeURIComponent(run) +
                               "/stream?after=" + last);
    es.onmessage = async (m) => {
      const e = JSON.parse(m.data);
      if (e.position <= last) return;
      last = e.position;
      // The run's last event: the server ends the stream after it (no reconnect).
      if (["succeeded", "failed", "cancelled"].includes(e.type)) es.close();
      if (table && document.body.dataset.tail === "1") {
        const tr = document.createElement("tr");
        tr.id = "event-" + e.position;
        const data = Object.assign({}, e.data);
        const path = Array.isArray(data.path) ? data.path.join(".") : "";
        delete data.path;
        const time = e.timestamp.slice(11, 23);
        for (const text of [String(e.position), (e.type + " " + path).trim(), time, "live",
                            JSON.stringify(data)]) {
          const td = document.createElement("td");
          td.textContent = text;  // text, never markup
          tr.appendChild(td);
        }
        table.appendChild(tr);
      }
      try {
        const r = await fetch(base + "/v1/runs/" + encodeURIComponent(run) +
                              "?fields=status,position,output", {credentials: "same-origin"});
        if (r.ok) {
          const info = await r.json();
          // Reads answer out of order: a slower, older one must not undo a newer one.
          if (info.position < statusAt) return;
          statusAt = info.position;
          const s = document.getElementById("status");
          s.textContent = info.status;
          s.className = "status s-" + info.status;
          document.getElementById("position").textContent = String(info.position);
        }
      } catch (err) { /* the next event tries again */ }
    };
  }
  // The run page's audit: read the whole chain after the page is shown (its cost
  // grows with the run; the page's does not). Without script, a link does it.
  const audit = document.getElementById("audit");
  if (audit && audit.dataset.src) {
    fetch(audit.dataset.src, {credentials: "same-origin"})
      .then((r) => (r.ok ? r.json() : null))
      .then((a) => {
        if (!a) return;  // the link stays
        audit.textContent = a.ok
          ? "intact" + (a.redacted ? " (" + a.redacted + " payloads redacted)" : "")
          : "ALTERED" + (a.first_bad ? " at event " + a.first_bad : "") + ": " + a.reason;
      })
      .catch(() => { /* the link stays */ });
  }
  // The state slider: move to another event.
  const slider = document.getElementById("at-slider");
  if (slider) {
    const shown = document.getElementById("at-value");
    slider.addEventListener("input", () => { shown.textContent = slider.value; });
    slider.addEventListener("change", () => {
      const url = new URL(window.location.href);
      url.searchParams.set("at", slider.value);
      window.location.href = url.toString();
    });
  }
  // Listings: refresh their rows every few seconds.
  const live = document.querySelector("[data-refresh]");
  if (live) {
    setInterval(async () => {
      const r = await fetch(window.location.href, {credentials: "same-origin"});
      if (!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.querySelector("[data-refresh]");
      if (fresh) live.innerHTML = fresh.innerHTML;
    }, parseInt(live.dataset.refresh, 10) * 1000);
  }
})();
"""
