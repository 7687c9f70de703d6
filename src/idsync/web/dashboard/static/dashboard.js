// idsync dashboard: polls the service's JSON every 2 s and redraws in place. No framework, no
// build step. Values from the store (reasons, logins) are user input: they only ever reach the
// page through textContent and attributes, never as HTML.
"use strict";

(() => {
  const POLL_MS = 2000;
  const CHART_SPAN_S = 15 * 60;
  const API = "/dashboard/api";
  const STATUSES = ["created", "updated", "activated", "deactivated", "deleted", "unchanged", "skipped", "failed", "cancelled"];
  const num = new Intl.NumberFormat("en-US");
  const num1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
  const SVG = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "cls") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- formatting -------------------------------------------------------------------------------

  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    if (s < 1) return "< 1 s";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h >= 24) return `${Math.floor(h / 24)} d ${h % 24} h`;
    if (h) return `${h} h ${m} min`;
    if (m) return `${m} min ${sec} s`;
    return `${sec} s`;
  }

  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const perMin = (perSecond) => `${num.format(Math.round(perSecond * 60))}/min`;

  // ---- talking to the service -------------------------------------------------------------------

  class LoggedOut extends Error {}

  async function getJSON(path) {
    const response = await fetch(API + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) throw new LoggedOut();
    if (!response.ok) throw new Error(`${response.status} ${response.statusText} for ${path}`);
    return response.json();
  }

  // A button's action (pause, resume, cancel): the header tells the service the page sent it.
  async function postJSON(path) {
    const response = await fetch(API + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Idsync-Dashboard": "1" },
    });
    if (response.status === 401) throw new LoggedOut();
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`);
    return body;
  }

  function live(ok, message) {
    $("live").classList.toggle("down", !ok);
    $("live-text").textContent = message;
    const banner = $("banner");
    banner.hidden = ok;
    if (!ok) banner.textContent = `The service does not answer (${message}); the page keeps trying.`;
  }

  // ---- shared pieces ----------------------------------------------------------------------------

  // A stacked bar: users done without trouble, skipped, failed; each in proportion to the total.
  function progressBar() {
    return el("div", { cls: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 },
      el("div", { cls: "ok" }), el("div", { cls: "skipped" }), el("div", { cls: "failed" }));
  }

  function setBar(bar, item) {
    const pct = item.percent;
    const total = item.total !== null ? item.total : item.counts.received;
    bar.classList.toggle("indeterminate", pct === null);
    bar.setAttribute("aria-valuenow", pct === null ? "" : pct.toFixed(1));
    bar.dataset.done = String(item.done);
    const [ok, skipped, failed] = bar.children;
    const share = (n) => (pct === null || !total ? 0 : Math.min((100 * n) / total, 100));
    ok.style.width = `${pct === null ? 100 : share(item.done - item.counts.skipped - item.counts.failed)}%`;
    skipped.style.width = `${share(item.counts.skipped)}%`;
    failed.style.width = `${share(item.counts.failed)}%`;
  }

  function progressText(item) {
    const total = item.total !== null ? item.total : item.input_done ? item.counts.received : null;
    if (total === null) return `${num.format(item.done)} done, ${num.format(item.pending)} waiting (input still arriving)`;
    return `${num.format(item.done)} of ${num.format(total)} users (${num1.format(item.percent || 0)} %)`;
  }

  function rateText(item) {
    if (!item.rate) return "–";
    return perMin(item.rate);
  }

  function etaText(item) {
    if (item.state === "running") return item.eta_s === null ? "–" : duration(item.eta_s);
    if (item.state === "paused") return "paused";
    const end = item.finished_at || item.updated_at;
    return item.state === "completed" ? `done in ${duration(end - item.started_at)}` : item.state;
  }

  const kindText = (item) => [item.kind === "activation" ? "activation job" : `${item.origin} import`, item.tenant, item.input_name]
    .filter(Boolean).join(" · ");

  function chips(counts) {
    return STATUSES.filter((s) => counts[s] > 0).map((s) =>
      el("span", { cls: `chip s-${s}`, "data-count": s, title: s }, el("b", { text: num.format(counts[s]) }), ` ${s}`));
  }

  // ---- overview: imports ------------------------------------------------------------------------

  const rows = new Map();

  function importRow(item) {
    const href = `#/imports/${encodeURIComponent(item.import_id)}`;
    const tr = el("tr", { "data-import-id": item.import_id },
      el("td", {}, el("a", { href, cls: "id", text: item.import_id }), el("div", { cls: "muted small", "data-field": "kind" })),
      el("td", {}, el("span", { cls: "badge", "data-field": "state" })),
      el("td", {},
        progressBar(),
        el("div", { cls: "small", "data-field": "progress" })),
      el("td", { cls: "chips", "data-field": "counts" }),
      el("td", { cls: "num", "data-field": "rate" }),
      el("td", { cls: "num", "data-field": "eta" }));
    tr.addEventListener("click", (event) => {
      if (event.target.tagName !== "A") location.hash = href;
    });
    return tr;
  }

  function renderImports(items) {
    const body = $("imports").tBodies[0];
    const seen = new Set();
    items.forEach((item, index) => {
      let tr = rows.get(item.import_id);
      if (!tr) rows.set(item.import_id, (tr = importRow(item)));
      if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
      seen.add(item.import_id);
      const field = (name) => tr.querySelector(`[data-field="${name}"]`);
      field("kind").textContent = kindText(item);
      field("state").textContent = item.state;
      field("state").className = `badge state-${item.state}`;
      setBar(tr.querySelector("[role=progressbar]"), item);
      field("progress").textContent = progressText(item);
      field("counts").replaceChildren(...chips(item.counts));
      field("rate").textContent = rateText(item);
      field("rate").title = item.rate_source === "average" ? "average over the whole run" : "over the last 30 s";
      field("eta").textContent = etaText(item);
    });
    for (const [id, tr] of rows) {
      if (!seen.has(id)) { tr.remove(); rows.delete(id); }
    }
    $("imports-empty").hidden = items.length > 0;
    $("running-count").textContent = num.format(items.filter((i) => i.state === "running").length);
  }

  // ---- overview: rate budget --------------------------------------------------------------------

  const series = new Map(); // "idp/bucket" -> [[t, calls/min, 429s], ...]
  const cards = new Map();
  let lastPoint = 0;

  function bucketCard(key) {
    const fact = (label, name) => [el("dt", { text: label }), el("dd", { "data-field": name })];
    return el("div", { cls: "bucket", "data-bucket": key },
      el("h3", { text: key.replace("/", " · ") }),
      svg("svg", { viewBox: "0 0 600 180", class: "chart", role: "img", "aria-label": `calls per minute, ${key}` }),
      el("dl", { cls: "facts" },
        ...fact("calls now", "cpm"), ...fact("limit", "limit"), ...fact("budget", "budget"),
        ...fact("left in window", "left"), ...fact("calls sent", "calls"), ...fact("429 answers", "r429"),
        ...fact("waiting", "waiting")));
  }

  function renderBuckets(view) {
    const container = $("buckets");
    let count = 0;
    for (const idp of view.idps) {
      for (const b of idp.buckets) {
        const key = `${b.idp}/${b.bucket}`;
        const points = (series.get(key) || []).concat(b.series);
        const keepFrom = view.generated_at - 3600;
        series.set(key, points.filter((p) => p[0] >= keepFrom));
        for (const p of b.series) lastPoint = Math.max(lastPoint, p[0]);
        let card = cards.get(key);
        if (!card) { cards.set(key, (card = bucketCard(key))); container.append(card); }
        const field = (name) => card.querySelector(`[data-field="${name}"]`);
        const minute = b.window_s !== null && Math.abs(b.window_s - 60) < 0.5;
        const window = b.window_s === null ? "per window (length: learning)" : minute ? "per minute" : `per ${num1.format(b.window_s)} s window`;
        const asMinute = (v) => (minute || v === null ? "" : ` = ${num.format(Math.round(v))}/min`);
        const share = `${Math.round(b.budget_share * 100)} % share`;
        field("cpm").textContent = b.calls_per_min === null ? "–" : `${num.format(Math.round(b.calls_per_min))}/min`;
        field("limit").textContent = b.limit === null ? "not known yet" : `${num.format(b.limit)} ${window}${asMinute(b.limit_per_min)}`;
        field("budget").textContent = b.budget === null ? share : `${num.format(b.budget)} ${window}${asMinute(b.budget_per_min)} (${share})`;
        field("left").textContent = b.calls_left === null ? "–" :
          `${num.format(b.calls_left)}` + (b.reset_in_s !== null ? `, resets in ${num1.format(Math.max(b.reset_in_s, 0))} s` : "");
        field("calls").textContent = num.format(b.calls);
        field("calls").title = Object.entries(b.calls_by_status).map(([s, n]) => `HTTP ${s === "0" ? "no answer" : s}: ${num.format(n)}`).join("\n");
        field("r429").textContent = num.format(b.rate_limited);
        field("r429").classList.toggle("bad", b.rate_limited > 0);
        field("waiting").textContent = num.format(b.waiting);
        drawChart(card.querySelector("svg"), series.get(key), b, view.generated_at);
        count += 1;
      }
    }
    $("buckets-empty").hidden = count > 0;
  }

  function drawChart(chart, points, b, now) {
    const W = 600, H = 180, L = 52, R = 10, T = 10, B = 24;
    // Up to the last 15 minutes; a young service's few minutes fill the width.
    const first = points.length ? points[0][0] : now;
    const span = Math.min(Math.max(now - first, 60), CHART_SPAN_S);
    const t0 = now - span;
    const visible = points.filter((p) => p[0] >= t0);
    const top = Math.max(b.limit_per_min || 0, b.budget_per_min || 0, ...visible.map((p) => p[1]), 10) * 1.1;
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const parts = [];
    for (let i = 0; i <= 4; i += 1) {
      const v = (top / 1.1) * (i / 4);
      parts.push(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      parts.push(svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, compact.format(v)));
    }
    for (const k of [3, 2, 1, 0]) {
      const ago = (span * k) / 3;
      const label = k === 0 ? "now" : ago >= 120 ? `−${Math.round(ago / 60)} min` : `−${Math.round(ago)} s`;
      parts.push(svg("text", { x: x(now - ago), y: H - 6, class: "axis", "text-anchor": k === 3 ? "start" : k ? "middle" : "end" }, label));
    }
    if (visible.length) {
      const line = visible.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      const base = y(0).toFixed(1);
      parts.push(svg("polygon", { points: `${x(visible[0][0]).toFixed(1)},${base} ${line} ${x(visible[visible.length - 1][0]).toFixed(1)},${base}`, class: "area" }));
      parts.push(svg("polyline", { points: line, class: "calls" }));
    }
    for (const [value, cls, label] of [[b.limit_per_min, "limit", "limit"], [b.budget_per_min, "budget", "budget"]]) {
      if (value === null || value === undefined) continue;
      parts.push(svg("line", { x1: L, x2: W - R, y1: y(value), y2: y(value), class: cls }));
      parts.push(svg("text", { x: W - R - 4, y: y(value) - 4, class: `axis ${cls}-label`, "text-anchor": "end" }, label));
    }
    for (const p of visible.filter((q) => q[2] > 0)) {
      const mark = svg("rect", { x: x(p[0]) - 2, y: T, width: 4, height: H - T - B, class: "r429" });
      mark.append(svg("title", {}, `${p[2]} × 429 at ${clock(p[0])}`));
      parts.push(mark);
    }
    chart.replaceChildren(...parts);
  }

  // ---- overview: the instances on the store ---------------------------------------------------------

  function renderFleet(fleet) {
    $("fleet-summary").textContent = `${num.format(fleet.alive)} alive · Kafka lag ${num.format(fleet.kafka_lag)}`;
    $("fleet").tBodies[0].replaceChildren(...fleet.instances.map((i) => {
      const age = Math.max(fleet.generated_at - i.heartbeat_at, 0);
      const state = i.alive ? `alive · heard ${num1.format(age)} s ago` : `gone · last heard ${duration(age)} ago`;
      const shares = i.shares.length
        ? i.shares.map((s) => el("div", { "data-share": `${s.idp}/${s.bucket}`, text: `${s.idp} · ${s.bucket}: ${num.format(s.allowance)} per window, ${num.format(s.sent)} sent` }))
        : [el("span", { cls: "muted", text: "–" })];
      const kafka = i.kafka === null ? [el("span", { cls: "muted", text: "no Kafka" })]
        : [el("div", { cls: i.kafka.connected ? "small" : "small bad", text: i.kafka.connected ? "connected" : "not connected" }),
          ...Object.entries(i.kafka.lag).map(([p, n]) => el("div", { "data-partition": p, text: `${p}: ${num.format(n)}` }))];
      return el("tr", { "data-instance": i.instance, cls: i.alive ? "" : "gone" },
        el("td", {}, el("b", { text: i.instance }), i.this ? el("span", { cls: "muted small", text: " (this one)" }) : null,
          el("div", { cls: "muted small", text: `${i.host} · pid ${i.pid}` })),
        el("td", { "data-field": "state", text: state }),
        el("td", { cls: "small" }, ...shares),
        el("td", { cls: "small" }, ...kafka));
    }));
  }

  // ---- overview: tenants and their sync mode ------------------------------------------------------

  function renderTenants(tenants) {
    $("tenants").tBodies[0].replaceChildren(...tenants.map((t) => {
      const switched = t.set_by
        ? `${t.previous_mode ? `${t.previous_mode} → ${t.mode}` : t.mode} by ${t.set_by}, ${new Date(t.changed_at * 1000).toLocaleString()}`
        : "–";
      const mode = el("span", { cls: `badge mode-${t.mode}`, "data-field": "mode", text: t.mode });
      const configured = t.configured_mode !== t.mode
        ? el("div", { cls: "muted small", text: `configuration: ${t.configured_mode}` }) : null;
      return el("tr", { "data-tenant": t.tenant },
        el("td", { text: t.tenant }),
        el("td", {}, mode, configured),
        el("td", { cls: "small", "data-field": "switched", text: switched }),
        el("td", { cls: "num", text: num.format(t.linked) }),
        el("td", { cls: "num", "data-field": "staged", text: num.format(t.staged) }),
        el("td", { cls: "num", text: num.format(t.active) }),
        el("td", { cls: "num", text: num.format(t.deprovisioned) }));
    }));
  }

  async function refreshOverview() {
    const [overview, limits, tenants, fleet] = await Promise.all([getJSON("/overview"), getJSON(`/limits?since=${lastPoint}`), getJSON("/tenants"), getJSON("/fleet")]);
    $("queue-interactive").textContent = num.format(overview.queue.interactive);
    $("queue-bulk").textContent = num.format(overview.queue.bulk);
    renderImports(overview.imports);
    renderTenants(tenants);
    renderFleet(fleet);
    renderBuckets(limits);
    return overview.generated_at;
  }

  // ---- one import -------------------------------------------------------------------------------

  const detail = { id: null, after: null, pages: 0, key: "" };

  function filterParams() {
    const params = new URLSearchParams();
    const status = $("f-status").value, code = $("f-code").value, q = $("f-q").value.trim();
    if (status) params.append("status", status);
    if (code) params.set("code", code);
    if (q) params.set("q", q);
    return params;
  }

  function failuresPath(extra) {
    const params = filterParams();
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    const query = params.toString();
    return `/imports/${encodeURIComponent(detail.id)}/failures${query ? `?${query}` : ""}`;
  }

  function renderDetail(data) {
    const item = data.item;
    $("d-title").textContent = item.import_id;
    $("d-state").textContent = item.state;
    $("d-state").className = `badge state-${item.state}`;
    const started = `started ${new Date(item.started_at * 1000).toLocaleString()}`;
    $("d-sub").textContent = `${kindText(item)} · ${started}`;
    setBar($("d-bar"), item);
    const eta = item.state === "running" ? ` · ${rateText(item)} · ETA ${etaText(item)}` : ` · ${etaText(item)} · ${rateText(item)} on average`;
    $("d-progress-text").textContent = progressText(item) + eta;
    const cells = ["received", ...STATUSES].map((s) =>
      el("div", { cls: `count s-${s}`, "data-count": s }, el("div", { cls: "value", text: num.format(item.counts[s]) }), el("div", { cls: "label", text: s })));
    cells.push(el("div", { cls: "count", "data-count": "pending" }, el("div", { cls: "value", text: num.format(item.pending) }), el("div", { cls: "label", text: "waiting" })));
    $("d-counts").replaceChildren(...cells);
    renderControls(item);

    const body = $("d-reasons").tBodies[0];
    body.replaceChildren(...data.reasons.map((r) => {
      const show = el("button", { type: "button", cls: "link", text: "show" });
      show.addEventListener("click", () => {
        $("f-status").value = r.status;
        setCodeOptions(data.reasons, r.code);
        reloadRows();
      });
      return el("tr", { "data-reason": r.code },
        el("td", {}, el("span", { cls: `badge s-${r.status}`, text: r.status })),
        el("td", {}, el("code", { text: r.code || "–" })),
        el("td", { cls: "num", text: num.format(r.count) }),
        el("td", { cls: "example", text: r.example, title: r.example }),
        el("td", {}, show));
    }));
    $("d-reasons-empty").hidden = data.reasons.length > 0;
    setCodeOptions(data.reasons, $("f-code").value);
  }

  // Pause / Resume / Cancel: only those the signed-in role and the import's state allow.
  const CONTROL_LABELS = { pause: "Pause", resume: "Resume", cancel: "Cancel import" };

  function renderControls(item) {
    const buttons = (item.controls || []).map((control) => {
      const button = el("button", { type: "button", cls: `control control-${control}`, "data-control": control, text: CONTROL_LABELS[control] });
      button.addEventListener("click", () => runControl(item.import_id, control, button));
      return button;
    });
    const box = $("d-controls");
    const now = [...box.children].map((b) => b.dataset.control).join(" ");
    if (now !== (item.controls || []).join(" ")) box.replaceChildren(...buttons);
  }

  async function runControl(id, control, button) {
    const warning = control === "cancel"
      ? `Cancel import ${id}? Users not yet sent end "cancelled" in its results; this cannot be undone.`
      : null;
    if (warning && !window.confirm(warning)) return;
    button.disabled = true;
    const message = $("d-control-msg");
    try {
      const data = await postJSON(`/imports/${encodeURIComponent(id)}/${control}`);
      message.textContent = `Import ${control === "cancel" ? "cancelled" : control === "pause" ? "paused" : "resumed"}.`;
      message.className = "small ok-text";
      if (detail.id === id) renderDetail(data);
    } catch (error) {
      if (error instanceof LoggedOut) { location.reload(); return; }
      message.textContent = error.message || String(error);
      message.className = "small bad";
    } finally {
      button.disabled = false;
    }
  }

  function setCodeOptions(reasons, selected) {
    const select = $("f-code");
    const codes = [...new Set(reasons.map((r) => r.code).filter(Boolean))].sort();
    if (selected && !codes.includes(selected)) codes.push(selected);
    const current = [...select.options].slice(1).map((o) => o.value);
    if (current.join("\n") !== codes.join("\n")) {
      select.replaceChildren(el("option", { value: "", text: "any" }), ...codes.map((c) => el("option", { value: c, text: c })));
    }
    select.value = selected || "";
  }

  function failureRow(r) {
    return el("tr", { "data-change-id": r.change_id },
      el("td", {}, el("span", { cls: `badge s-${r.status}`, text: r.status })),
      el("td", {}, el("code", { text: r.reason_code || "–" })),
      el("td", { cls: "reason", text: r.reason }),
      el("td", { text: `${r.source} / ${r.key}` }),
      el("td", { text: r.login }),
      el("td", { cls: "num", text: r.change_id }));
  }

  async function loadRows(append) {
    const key = filterParams().toString();
    const page = await getJSON(failuresPath(append && detail.after ? { after: detail.after } : {}));
    if (key !== filterParams().toString()) return; // the filter changed meanwhile
    const body = $("d-rows").tBodies[0];
    if (append) body.append(...page.items.map(failureRow));
    else body.replaceChildren(...page.items.map(failureRow));
    detail.after = page.next_after;
    detail.pages = append ? detail.pages + 1 : 1;
    detail.key = key;
    $("more").hidden = page.next_after === null;
    const shown = body.rows.length;
    $("d-rows-info").textContent = shown ? `${num.format(shown)} shown${page.next_after === null ? "" : " (more below)"}` : "No rows match.";
    $("csv").href = `${API}/imports/${encodeURIComponent(detail.id)}/failures.csv${key ? `?${key}` : ""}`;
  }

  function reloadRows() {
    loadRows(false).catch(handleError);
  }

  async function refreshDetail() {
    const data = await getJSON(`/imports/${encodeURIComponent(detail.id)}`);
    renderDetail(data);
    // While only the first page is shown, keep it current; after "load more", leave it alone.
    if (detail.pages <= 1) await loadRows(false);
    return Date.now() / 1000;
  }

  // ---- the audit trail ---------------------------------------------------------------------------

  const audit = { before: null, pages: 0 };

  function auditRow(e) {
    const detail = Object.entries(e.detail || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
    return el("tr", { "data-audit-id": e.id },
      el("td", { cls: "num", text: new Date(e.at * 1000).toLocaleString() }),
      el("td", { text: e.actor }),
      el("td", {}, el("code", { text: e.action })),
      el("td", { text: e.target }),
      el("td", { text: e.tenant || "–" }),
      el("td", {}, el("span", { cls: `badge outcome-${e.outcome}`, text: e.outcome })),
      el("td", { cls: "example", text: detail, title: detail }));
  }

  async function loadAudit(append) {
    const page = await getJSON(`/audit${append && audit.before ? `?before=${audit.before}` : ""}`);
    const body = $("audit").tBodies[0];
    if (append) body.append(...page.items.map(auditRow));
    else body.replaceChildren(...page.items.map(auditRow));
    audit.before = page.next_before;
    audit.pages = append ? audit.pages + 1 : 1;
    $("audit-more").hidden = page.next_before === null;
    $("audit-empty").hidden = body.rows.length > 0;
  }

  async function refreshAudit() {
    if (audit.pages <= 1) await loadAudit(false); // after "older entries", leave the list alone
    return Date.now() / 1000;
  }

  // ---- views, polling ---------------------------------------------------------------------------

  let auditView = false;

  function route() {
    auditView = location.hash === "#/audit";
    const match = location.hash.match(/^#\/imports\/(.+)$/);
    const id = match ? decodeURIComponent(match[1]) : null;
    $("view-audit").hidden = !auditView;
    $("view-overview").hidden = id !== null || auditView;
    $("view-import").hidden = id === null;
    if (!auditView) Object.assign(audit, { before: null, pages: 0 });
    if (id !== detail.id) {
      if (id === null) { // back to the overview: drop rows not refreshed meanwhile
        rows.clear();
        $("imports").tBodies[0].replaceChildren();
      }
      Object.assign(detail, { id, after: null, pages: 0, key: "" });
      $("f-status").value = "";
      $("f-code").value = "";
      $("f-q").value = "";
      $("d-controls").replaceChildren();
      $("d-control-msg").textContent = "";
      if (id) {
        $("d-rows").tBodies[0].replaceChildren();
        $("d-title").textContent = id;
      }
    }
    document.title = id ? `${id} · idsync` : auditView ? "audit · idsync" : "idsync dashboard";
  }

  let timer = null;
  let running = false;

  function handleError(error) {
    if (error instanceof LoggedOut) {
      location.reload(); // the server answers with the login form
      return;
    }
    live(false, error.message || String(error));
  }

  async function tick() {
    clearTimeout(timer);
    if (running) return;
    running = true;
    try {
      if (!document.hidden) {
        const at = auditView ? await refreshAudit() : detail.id ? await refreshDetail() : await refreshOverview();
        live(true, `live · updated ${clock(at)}`);
      }
    } catch (error) {
      handleError(error);
    } finally {
      running = false;
      timer = setTimeout(tick, POLL_MS);
    }
  }

  let typing = null;
  $("f-status").addEventListener("change", reloadRows);
  $("f-code").addEventListener("change", reloadRows);
  $("f-q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(reloadRows, 300); });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); reloadRows(); });
  $("more").addEventListener("click", () => loadRows(true).catch(handleError));
  $("audit-more").addEventListener("click", () => loadAudit(true).catch(handleError));
  window.addEventListener("hashchange", () => { route(); tick(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) tick(); });
  route();
  tick();
})();
