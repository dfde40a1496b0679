/**
 * The dashboard: one self-contained page (no build step, nothing fetched but this server's own
 * routes). It asks for the bearer token only when the server answers 401, keeps it in the tab's
 * session storage, and sends it as a header: the page itself never holds a secret.
 */
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Circuit breakers</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d232a; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1200px; padding: 16px 24px; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 24px 0 8px; }
  #status { color: #667; font-size: 13px; }
  table { border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e3e6ea; }
  th { background: #eef0f3; font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
  tr.Closed td:first-child { border-left: 6px solid #2f9e44; }
  tr.HalfOpen { background: #fff7db; } tr.HalfOpen td:first-child { border-left: 6px solid #f08c00; }
  tr.Open { background: #ffe3e3; } tr.Open td:first-child { border-left: 6px solid #e03131; }
  .badge { padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
  .badge.Closed { background: #2f9e44; } .badge.HalfOpen { background: #f08c00; } .badge.Open { background: #e03131; }
  button { font-size: 12px; margin-right: 4px; cursor: pointer; }
  ul { list-style: none; padding: 0; margin: 0; background: #fff; font-size: 13px; max-height: 260px; overflow: auto; }
  li { padding: 4px 10px; border-bottom: 1px solid #eef0f3; } time { color: #667; margin-right: 8px; }
  #login { display: none; background: #fff; padding: 12px; border: 1px solid #e3e6ea; margin: 12px 0; }
  .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
</style>
</head>
<body>
<h1>Circuit breakers</h1>
<div id="status">connecting…</div>
<form id="login"><label>Bearer token <input id="token" type="password" autocomplete="off"></label> <button>Connect</button></form>
<h2>Circuits <small id="window"></small></h2>
<table>
  <thead><tr><th>Circuit</th><th>State</th><th>Mode</th><th>Calls/s</th><th>Failure rate</th><th>p50</th><th>p90</th><th>p99</th><th>Calls</th><th>Policies</th><th></th></tr></thead>
  <tbody id="circuits"></tbody>
</table>
<div class="cols">
  <div><h2>Transitions</h2><ul id="timeline"></ul></div>
  <div><h2>Last failures</h2><ul id="failures"></ul></div>
</div>
<script>
"use strict";
const WINDOW_SECONDS = 300;
const state = { circuits: new Map(), buckets: [], transitions: [], failures: [] };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const token = () => sessionStorage.getItem("circuit-breaker-token");
const headers = () => (token() ? { authorization: "Bearer " + token() } : {});
const hhmmss = (t) => new Date(t).toLocaleTimeString();

function circuit(view) {
  const known = state.circuits.get(view.name) || { seconds: [] };
  Object.assign(known, view);
  state.circuits.set(view.name, known);
  for (const f of view.lastFailures || []) failure(view.name, f);
  return known;
}
function failure(name, f) {
  if (state.failures.some((g) => g.id === f.id)) return;
  state.failures.push({ circuit: name, ...f });
  state.failures.sort((a, b) => b.timestamp - a.timestamp);
  state.failures.length = Math.min(state.failures.length, 50);
}
function percentile(counts, q) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (seen + counts[i] >= q * total) {
      if (i >= state.buckets.length) return state.buckets[state.buckets.length - 1];
      const lower = i === 0 ? 0 : state.buckets[i - 1];
      return lower + (state.buckets[i] - lower) * ((q * total - seen) / counts[i]);
    }
    seen += counts[i];
  }
  return null;
}
function policies(p) {
  if (!p) return "–";
  const parts = [];
  if (p.circuitMode !== "normal") parts.push("<b>" + esc(p.circuitMode) + "</b>");
  if (p.failureRate >= 0) parts.push("failure rate " + p.failureRate.toFixed(1) + " %");
  if (p.slowCallRate >= 0) parts.push("slow-call rate " + p.slowCallRate.toFixed(1) + " %");
  if (p.slowCalls > 0) parts.push(p.slowCalls + " slow calls");
  if (p.bulkheadRejections > 0) parts.push(p.bulkheadRejections + " bulkhead rejections");
  if (p.fallbackCalls > 0) parts.push(p.fallbackCalls + " fallbacks");
  return parts.join(" · ") || "–";
}
const seconds = (s) => (s === null ? "–" : s < 1 ? (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms" : s.toFixed(2) + " s");
function windowed(c) {
  const since = Date.now() - WINDOW_SECONDS * 1000;
  c.seconds = c.seconds.filter((s) => s.at >= since);
  const sum = { calls: 0, failures: 0, counts: state.buckets.map(() => 0).concat(0) };
  for (const s of c.seconds) {
    sum.calls += s.calls; sum.failures += s.failures;
    s.buckets.forEach((n, i) => (sum.counts[i] += n));
  }
  const last = c.seconds[c.seconds.length - 1];
  return { ...sum, rate: last && last.at >= Date.now() - 2000 ? last.calls : 0 };
}
function render() {
  const rows = [...state.circuits.values()].sort((a, b) => a.name.localeCompare(b.name)).map((c) => {
    const w = windowed(c);
    const fr = w.calls === 0 ? "–" : ((100 * w.failures) / w.calls).toFixed(1) + " %";
    const n = esc(c.name);
    return '<tr class="' + c.state + '" data-circuit="' + n + '" data-state="' + c.state + '"><td>' + n +
      '</td><td><span class="badge ' + c.state + '">' + c.state + "</span></td><td>" + esc(c.mode) +
      '</td><td class="n">' + w.rate + '</td><td class="n">' + fr + '</td><td class="n">' + seconds(percentile(w.counts, 0.5)) +
      '</td><td class="n">' + seconds(percentile(w.counts, 0.9)) + '</td><td class="n">' + seconds(percentile(w.counts, 0.99)) +
      '</td><td class="n">' + (c.metrics ? c.metrics.totalCalls : 0) + '</td><td class="policies">' + policies(c.policies) + "</td><td>" +
      ["trip", "reset", "isolate", "release"].map((a) => '<button data-action="' + a + '" data-name="' + n + '">' + a + "</button>").join("") +
      "</td></tr>";
  });
  $("circuits").innerHTML = rows.join("") || '<tr><td colspan="11">No circuit yet</td></tr>';
  $("timeline").innerHTML = state.transitions.map((t) => "<li><time>" + hhmmss(t.at) + "</time>" + esc(t.circuit) + ": " +
    t.from + " → <b>" + t.to + "</b></li>").join("");
  $("failures").innerHTML = state.failures.map((f) => "<li><time>" + hhmmss(f.timestamp) + "</time>" + esc(f.circuit) +
    " (attempt " + f.attempt + "): <b>" + esc(f.error.name) + "</b> " + esc(f.error.message) + "</li>").join("");
  $("window").textContent = "(rates and percentiles over the last " + WINDOW_SECONDS / 60 + " minutes)";
}
const handlers = {
  snapshot(d) { state.buckets = d.buckets; state.circuits.clear(); d.circuits.forEach(circuit); },
  circuit(d) { circuit(d); },
  state(d) {
    const c = state.circuits.get(d.circuit);
    if (c) c.state = d.to;
    state.transitions.unshift(d);
    state.transitions.length = Math.min(state.transitions.length, 100);
  },
  policies(d) {
    for (const p of d.circuits) {
      const c = state.circuits.get(p.circuit);
      if (c) c.policies = p;
    }
  },
  outcomes(d) {
    for (const o of d.circuits) {
      const c = state.circuits.get(o.circuit);
      if (!c) continue;
      c.seconds.push({ at: d.at, calls: o.calls, failures: o.failures, buckets: o.buckets });
      if (c.metrics) c.metrics.totalCalls += o.calls;
      for (const f of o.lastFailures || []) failure(o.circuit, f);
    }
  }
};
function dispatch(block) {
  let event = "message", data = "";
  for (const line of block.split("\\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (handlers[event] && data) { handlers[event](JSON.parse(data)); render(); }
}
async function connect() {
  try {
    const res = await fetch("events", { headers: headers(), cache: "no-store" });
    if (res.status === 401) { $("status").textContent = "This monitor needs a token."; $("login").style.display = "block"; return; }
    if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
    $("login").style.display = "none";
    $("status").textContent = "live";
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) !== -1) { dispatch(buffer.slice(0, end)); buffer = buffer.slice(end + 2); }
    }
    $("status").textContent = "disconnected; reconnecting…";
  } catch (e) {
    $("status").textContent = "disconnected (" + e.message + "); reconnecting…";
  }
  setTimeout(connect, 2000);
}
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("circuit-breaker-token", $("token").value);
  $("token").value = "";
  connect();
});
$("circuits").addEventListener("click", async (e) => {
  const b = e.target.closest("button[data-action]");
  if (!b) return;
  const res = await fetch("circuits/" + encodeURIComponent(b.dataset.name) + "/" + b.dataset.action, { method: "POST", headers: headers() });
  const body = await res.json().catch(() => ({}));
  $("status").textContent = res.ok ? b.dataset.action + " " + b.dataset.name + ": done" : b.dataset.action + ": " + (body.error || res.status);
});
setInterval(render, 1000);
render();
connect();
</script>
</body>
</html>
`
