// crabapple inspector (hand-written, no dependencies): forms marked data-admin="METHOD PATH"
// call the admin API with their fields as a JSON object; the clock's "set" form advances by the
// difference to the time asked for; the request log polls the admin API's /requests?after=N and
// adds newer rows on top. The script's own admin API calls go to <body data-admin-api>:
// /crabapple/admin, or a world's /crabapple/worlds/ID/crabapple/admin. The session cookie
// authenticates every call (same origin only).
"use strict";
(function () {
  const adminApi = document.body.dataset.adminApi || "/crabapple/admin";

  function say(text, ok) {
    const out = document.getElementById("result");
    if (out) {
      out.textContent = text;
      out.className = ok ? "ok" : "error";
    }
  }

  async function call(method, path, body) {
    const init = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    const text = await r.text();
    let doc = null;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      doc = null;
    }
    if (!r.ok) {
      const reason = r.headers.get("X-Crabapple-Reason");
      const why = (doc && doc.error) || (reason && decodeURIComponent(reason)) || text;
      throw new Error(r.status + ": " + why);
    }
    return doc;
  }

  function fields(form) {
    const o = {};
    for (const el of form.elements) {
      if (el.name && el.value !== "") o[el.name] = el.type === "number" ? Number(el.value) : el.value;
    }
    return o;
  }

  document.addEventListener("submit", async function (ev) {
    const form = ev.target;
    const admin = form.getAttribute("data-admin");
    const set = form.getAttribute("data-clock-set");
    if (admin === null && set === null) return;
    ev.preventDefault();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      if (admin !== null) {
        const parts = admin.split(" ");
        const body = fields(form);
        await call(parts[0], parts[1], Object.keys(body).length ? body : undefined);
      } else {
        const asked = form.elements.to.value;
        const to = Date.parse(asked);
        if (isNaN(to)) throw new Error("'" + asked + "' is not a time like 2027-01-01T00:00:00Z");
        const status = await call("GET", adminApi + "/status");
        const by = to - status.clock.nowMs;
        if (by < 0) throw new Error("the virtual clock only moves forward: " + asked + " is before now");
        await call("POST", adminApi + "/clock/advance", { by: String(by) });
      }
      say("Done.", true);
      location.reload();
    } catch (e) {
      say(e.message, false);
      if (button) button.disabled = false;
    }
  });

  function cell(tr, text, tag) {
    const td = document.createElement("td");
    if (tag) {
      const inner = document.createElement(tag);
      inner.textContent = text;
      td.appendChild(inner);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
    return td;
  }

  function when(tr, ms) {
    const td = document.createElement("td");
    const t = document.createElement("time");
    const iso = new Date(ms).toISOString();
    t.dateTime = iso;
    t.textContent = iso;
    td.appendChild(t);
    tr.appendChild(td);
  }

  function row(e) {
    const tr = document.createElement("tr");
    tr.className = "new";
    when(tr, e.wallMs);
    when(tr, e.virtualMs);
    cell(tr, e.method);
    cell(tr, e.path, "code");
    cell(tr, e.keyId || "");
    cell(tr, String(e.status), "span").firstChild.className = "s" + Math.floor(e.status / 100);
    cell(tr, e.code || "");
    cell(tr, e.reason || "");
    cell(tr, e.durationMs.toFixed(1));
    return tr;
  }

  const wrap = document.getElementById("request-log-wrap");
  if (wrap) {
    let after = Number(wrap.dataset.after || 0);
    const query = wrap.dataset.query;
    const tbody = wrap.querySelector("tbody");
    const status = document.getElementById("log-status");
    const poll = async function () {
      try {
        const doc = await call("GET", adminApi + "/requests?after=" + after + (query ? "&" + query : ""));
        const rows = doc.data;
        if (rows.length) {
          const empty = tbody.querySelector("td.empty");
          if (empty) empty.parentElement.remove();
          for (let i = rows.length - 1; i >= 0; i--) tbody.insertBefore(row(rows[i]), tbody.firstChild);
          after = rows[0].seq;
          while (tbody.rows.length > doc.capacity) tbody.deleteRow(-1);
          status.textContent = rows.length + " new request" + (rows.length === 1 ? "" : "s");
        }
        setTimeout(poll, 1000);
      } catch (e) {
        status.textContent = "Live updates stopped: " + e.message;
      }
    };
    setTimeout(poll, 1000);
  }
})();
