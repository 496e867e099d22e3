// The person's app. Every string from the agent is put in with textContent, never as HTML;
// the charts are SVG the agent made and escaped, parsed as XML (no script runs from them).
"use strict";
const csrf = document.querySelector('meta[name="csrf"]').content;
let state = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function call(method, path, body) {
  const r = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? {} : {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({error: "the agent's answer was not JSON"}));
  if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}

function say(text) {
  const live = document.getElementById("live");
  live.replaceChildren(el("p", {}, text));
}

function svgInto(figure, markup) {
  const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg" || svg.querySelector("script")) return;
  figure.replaceChildren(document.importNode(svg, true));
}

function renderIntents() {
  const box = document.getElementById("intents");
  box.replaceChildren();
  if (!state.intents.length) box.append(el("p", {class: "muted"}, "No intents yet."));
  for (const i of state.intents) {
    const head = el("h3", {}, i.description, " ",
      el("span", {class: "muted"}, `(${i.category}; ${i.watch ? "watch: " + i.watch : "one-shot"}; until ${i.expires.slice(0, 16)})`));
    const div = el("div", {class: "intent", "data-intent": i.id}, head);
    if (i.open) div.append(el("div", {class: "actions"}, el("button", {type: "button", class: "stop secondary",
      onclick: () => stop_(i.id)}, "Stop watching")));
    for (const o of i.offers) {
      const reasons = el("ul", {}, ...o.reasons.map(r => el("li", {}, r)));
      const accept = el("button", {class: "accept", type: "button", "data-offer": o.id,
        onclick: () => accept_(o.id)}, o.accepted ? "Accepted" : "Accept");
      if (o.accepted) accept.disabled = true;
      else if (o.expired) { accept.disabled = true; accept.textContent = "Expired"; }
      div.append(el("div", {class: "offer", "data-offer": o.id},
        el("span", {class: "rank", "aria-label": "rank"}, "#" + o.rank),
        el("div", {}, el("strong", {class: "vendor-name"}, o.vendor), " ", el("span", {class: "total"}, o.total),
          el("div", {class: "muted"}, `by ${o.delivery_by}; score ${o.score}; offer ${o.id.slice(0, 8)}`), reasons),
        el("div", {class: "actions"}, accept)));
    }
    if (!i.offers.length) div.append(el("p", {class: "muted"}, i.open ? "Waiting for offers..." : "No offers shown."));
    if (i.dropped.length) {
      div.append(el("p", {}, "Dropped:"), el("ul", {class: "drops"},
        ...i.dropped.map(d => el("li", {class: "drop"}, `${d.vendor}: ${d.reason}`, d.detail ? el("span", {class: "muted"}, " (" + d.detail + ")") : null))));
    }
    box.append(div);
  }
}

function renderReceipts() {
  const box = document.getElementById("receipt-list");
  box.replaceChildren();
  if (!state.receipts.length) box.append(el("p", {class: "muted"}, "No receipts yet."));
  for (const r of state.receipts) {
    const score = el("select", {"aria-label": "score", class: "score"}, ...[5, 4, 3, 2, 1].map(n => el("option", {value: n}, n + "/5")));
    const outcome = el("select", {"aria-label": "outcome", class: "outcome"},
      ...["delivered", "late", "not_delivered", "not_as_described", "returned"].map(o => el("option", {value: o}, o.replaceAll("_", " "))));
    const verify = r.signatures_verify ? el("span", {class: "ok"}, "signatures verify") : el("span", {class: "bad"}, "DO NOT VERIFY");
    const acts = el("div", {class: "actions"}, score, outcome,
      el("button", {type: "button", class: "rate", onclick: () => rate_(r.receipt, +score.value, outcome.value)}, "Rate"));
    if (r.status !== "cancelled" && r.status !== "delivered" && r.signatures_verify)
      acts.append(el("button", {type: "button", class: "cancel secondary", onclick: () => cancel_(r.receipt)}, "Cancel order"));
    if ((r.status === "shipped" || r.status === "delivered") && r.signatures_verify)
      acts.append(el("button", {type: "button", class: "delivered", onclick: () => delivered_(r.receipt)}, "It arrived"));
    const news = r.news.length ? el("ul", {class: "news", "aria-label": "what the vendor said, signed"},
      ...r.news.map(n => el("li", {class: "news-item", "data-state": n.state}, `${n.state}`,
        [n.carrier, n.tracking, n.reason].filter(Boolean).length ? " (" + [n.carrier, n.tracking, n.reason].filter(Boolean).join(", ") + ")" : "",
        el("span", {class: "muted"}, ` ${n.received.slice(0, 16)}, signed #${n.seq}`)))) : null;
    box.append(el("div", {class: "receipt", "data-receipt": r.receipt},
      el("strong", {}, r.vendor), " ", r.item, " ", el("span", {class: "total"}, r.total),
      el("div", {}, verify, " ", el("span", {class: "status"}, r.status), " ",
        el("span", {class: "muted"}, `receipt ${r.receipt.slice(0, 8)}, ${r.created.slice(0, 10)}`)), news, acts));
  }
}

function renderTrust() {
  const box = document.getElementById("trust-list");
  box.replaceChildren();
  if (!state.trust.length) box.append(el("p", {class: "muted"}, "No vendors yet."));
  for (const t of state.trust) {
    const ev = t.evidence.length ? el("ul", {}, ...t.evidence.map(e => el("li", {}, `${e.kind}: +${e.positive} / -${e.negative}, ${e.at.slice(0, 10)}`)))
      : el("p", {class: "muted"}, "No evidence of your own yet.");
    box.append(el("div", {class: "vendor", "data-vendor": t.vendor_id},
      el("strong", {}, t.vendor), " ", el("span", {class: "trust-score"}, t.describe), ev));
  }
}

function renderTerms() {
  const sel = document.getElementById("t-agreement"), cast = document.getElementById("f-terms");
  sel.replaceChildren(...state.terms.roster.map(a => el("option", {value: a}, a)));
  sel.value = state.terms.agreement || "";
  if (!cast.options.length) {
    cast.replaceChildren(el("option", {value: ""}, "my standing terms"), ...state.terms.roster.map(a => el("option", {value: a}, a)), el("option", {value: "none"}, "none"));
  }
  const box = document.getElementById("t-disclose");
  box.replaceChildren(...["name", "address", "postcode", "country", "email", "phone"].map(f => {
    const c = el("input", {type: "checkbox", value: f, name: "disclose"});
    c.checked = state.terms.disclose.includes(f);
    return el("label", {}, c, " " + f);
  }));
  const dl = document.getElementById("t-clauses");
  dl.replaceChildren(...Object.entries(state.terms.clauses).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, JSON.stringify(v))]));
}

function renderRelationships() {
  const box = document.getElementById("relationship-list");
  box.replaceChildren();
  if (!state.relationships.length) box.append(el("p", {class: "muted"}, "No vendor holds details of yours (no orders yet)."));
  for (const v of state.relationships) {
    const rows = v.orders.map(o => {
      const c = o.confirmation;
      const erasure = el("span", {class: "erasure"}, o.erasure);
      const signed = c ? el("div", {class: "confirmation muted"}, c.verifies === "yes"
        ? `signed by ${c.key}... on ${c.signed.slice(0, 16)}, digest ${c.digest}...` : "the confirmation DOES NOT VERIFY: " + c.problem) : null;
      return el("tr", {"data-order": o.order},
        el("td", {"data-label": "order"}, o.order.slice(0, 8)),
        el("td", {"data-label": "holds", class: "fields"}, o.fields.join(", ") || "nothing"),
        el("td", {"data-label": "held until"}, o.held_until + (o.passed ? " (passed: it should have purged them)" : "")),
        el("td", {"data-label": "update", class: "update"}, o.update),
        el("td", {"data-label": "erasure"}, erasure, signed));
    });
    const acts = el("div", {class: "actions"});
    if (v.holds) acts.append(el("button", {type: "button", class: "forget secondary", onclick: () => forget_(v.vendor_id, v.vendor)}, "Ask to erase what it holds"));
    box.append(el("div", {class: "relationship", "data-vendor": v.vendor_id}, el("strong", {}, v.vendor),
      el("table", {}, el("thead", {}, el("tr", {}, ...["order", "holds", "held until", "update", "erasure"].map(h => el("th", {scope: "col"}, h)))),
        el("tbody", {}, ...rows)), acts));
  }
  const p = state.person, addr = document.getElementById("p-address");
  if (document.activeElement === null || !document.getElementById("address-form").contains(document.activeElement)) {
    addr.value = p.address.join("\n");
    document.getElementById("p-postcode").value = p.postcode;
    document.getElementById("p-city").value = p.city;
    document.getElementById("p-country").value = p.country;
  }
}

function render() {
  document.getElementById("lock").hidden = true;
  const cats = document.getElementById("categories");
  if (!cats.options.length) cats.replaceChildren(...state.categories.map(c => el("option", {value: c})));
  renderIntents(); renderReceipts(); renderTrust(); renderTerms(); renderRelationships();
  svgInto(document.getElementById("chart-spending"), state.charts.spending);
  svgInto(document.getElementById("chart-offers"), state.charts.offers);
  document.body.dataset.ready = String(Date.now());
}

async function refresh() {
  try { state = await call("GET", "/api/state"); render(); }
  catch (e) {
    if (String(e.message).startsWith("locked")) { document.getElementById("lock").hidden = false; return; }
    say("Could not read your agent: " + e.message);
  }
}

async function accept_(offer) {
  try { const r = await call("POST", "/api/accept", {offer}); say(r.text); }
  catch (e) { say("Not accepted: " + e.message); }
  await refresh();
}
async function stop_(intent) {
  try { await call("POST", "/api/stop", {intent}); say("Stopped watching; offers for it are no longer collected."); }
  catch (e) { say("Not stopped: " + e.message); }
  await refresh();
}
async function rate_(receipt, score, outcome) {
  try { const r = await call("POST", "/api/rate", {receipt, score, outcome}); say("Rated; trust is now " + r.trust); }
  catch (e) { say("Not rated: " + e.message); }
  await refresh();
}
async function cancel_(receipt) {
  try { const r = await call("POST", "/api/cancel", {receipt}); say(r.cancelled ? "Cancelled; the vendor signed that the order is off." : "Not cancelled: " + r.reason); }
  catch (e) { say("Not cancelled: " + e.message); }
  await refresh();
}

async function delivered_(receipt) {
  try {
    const r = await call("POST", "/api/delivered", {receipt});
    say("Delivery confirmed; trust is now " + r.trust + (r.vendor_said ? ` (the vendor said so too, signed: status #${r.vendor_said})` : ""));
  } catch (e) { say("Not confirmed: " + e.message); }
  await refresh();
}
async function forget_(vendor, name) {
  if (!confirm(`Ask ${name} to erase everything it holds about you?`)) return;
  try {
    const r = await call("POST", "/api/forget", {vendor});
    say(r.confirmed ? `${r.vendor} confirmed erasure, signed; the confirmation is kept.`
      : `${r.vendor} has NOT confirmed erasure yet; your agent asks again, and until it confirms that counts against its trust.`);
  } catch (e) { say("Not asked: " + e.message); }
  await refresh();
}

function clauses() {
  const must = !document.getElementById("c-prefer").checked;
  const c = {}, num = (id) => document.getElementById(id).value;
  const add = (k, v) => { c[k] = must ? {value: v} : {value: v, must: false, weight: 5}; };
  if (num("c-warranty")) add("min_warranty_months", +num("c-warranty"));
  if (num("c-returns")) add("min_return_days", +num("c-returns"));
  if (num("c-retention")) add("data_retention_days", +num("c-retention"));
  if (document.getElementById("c-no-tracking").checked) add("no_tracking", true);
  if (document.getElementById("c-no-sharing").checked) add("no_sharing", true);
  return c;
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("cast-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target), body = Object.fromEntries(f.entries());
    body.clauses = clauses();
    const out = document.getElementById("cast-result");
    try { const r = await call("POST", "/api/intents", body); out.textContent = `Cast ${r.intent.slice(0, 8)}; open until ${r.expires.slice(0, 16)}.`; }
    catch (e) { out.textContent = "Not cast: " + e.message; }
    await refresh();
  });
  document.getElementById("terms-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const disclose = [...document.querySelectorAll('#t-disclose input:checked')].map(c => c.value);
    const out = document.getElementById("terms-result");
    try { const r = await call("POST", "/api/terms", {agreement: document.getElementById("t-agreement").value, disclose}); out.textContent = "Saved: " + r.agreement + "; disclose " + r.disclose.join(", "); }
    catch (e) { out.textContent = "Not saved: " + e.message; }
    await refresh();
  });
  document.getElementById("address-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (id) => document.getElementById(id).value;
    const out = document.getElementById("address-result");
    try {
      const r = await call("POST", "/api/profile", {address: v("p-address"), postcode: v("p-postcode"), city: v("p-city"), country: v("p-country")});
      out.textContent = !r.changed.length ? "Nothing changed." : !r.sent ? "Saved; no vendor holds your old address."
        : `Saved; ${r.acknowledged} of ${r.sent} vendors acknowledged, signed` + (r.acknowledged < r.sent ? "; your agent asks the others again." : ".")
          + (r.unsigned ? ` ${r.unsigned} orders cannot be told from this home (no keys).` : "");
    } catch (e) { out.textContent = "Not changed: " + e.message; }
    await refresh();
  });
  document.getElementById("unlock-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await call("POST", "/unlock", {passphrase: document.getElementById("f-passphrase").value}); await refresh(); }
    catch (e) { say(e.message); }
  });
  const by = document.getElementById("f-by");
  if (!by.value) by.value = new Date(Date.now() + 14 * 864e5).toISOString().slice(0, 10);
  const events = new EventSource("/api/events");
  events.addEventListener("notice", (ev) => {
    const n = JSON.parse(ev.data);
    if (n.kind === "offer") say(`New offer: ${n.body.vendor}, ${n.body.total}`);
    else if (n.kind === "closed") say(`An intent closed (${n.body.state}).`);
    else if (n.kind === "status") say(`${n.body.vendor}: your order ${n.body.state}` + (n.body.carrier ? ` (${n.body.carrier})` : ""));
    else if (n.kind === "relationship") say(`${n.body.answered} vendors answered your agent's requests.`);
    refresh();
  });
  refresh();
});
