// polos_nb run widget (anywidget ESM, no imports, no bundler).
// State comes in synced traits; streamed text comes as {kind:"delta", text} messages.
// Answers go out as {kind:"submit", key, decision, data}; Python validates them and
// reports back through the `approvals` trait (status + per-field errors).
// Stable CSS classes (used by browser tests): see docs/notebook.md "Widget DOM".
// The static snapshot (polos_nb/notebook/_html.py) has the same structure and classes.

/** @param {string} tag @param {string} [cls] @param {string} [text] */
function h(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

const ICON = { running: "◐", completed: "✓", failed: "✗", waiting: "‖", queued: "…", cancelled: "⊘" };

// ------------------------------------------------------------------ a small, safe Markdown
// The same subset as polos_nb/notebook/_html.py `markdown`: the text is escaped first.
function escapeHtml(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
function mdInline(text) {
  let out = escapeHtml(text);
  out = out.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  out = out.replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, "<strong>$1</strong>");
  out = out.replace(/(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])/g, "<em>$1</em>");
  out = out.replace(/(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])/g, "<em>$1</em>");
  out = out.replace(/\[([^\]\n]+)\]\(((?:https?:\/\/|mailto:)[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
  return out;
}
function markdown(text) {
  if (text === null || text === undefined || String(text).trim() === "") return "";
  return String(text).trim().split(/\n\s*\n/).map((block) => {
    const lines = block.split("\n");
    if (lines.every((l) => /^\s*[-*] /.test(l))) {
      return "<ul>" + lines.map((l) => `<li>${mdInline(l.replace(/^\s*[-*] /, ""))}</li>`).join("") + "</ul>";
    }
    return "<p>" + lines.map(mdInline).join("<br>") + "</p>";
  }).join("");
}
function mdElement(tag, cls, text) {
  const el = h(tag, cls);
  el.innerHTML = markdown(text);  // escaped above: only the tags markdown() writes remain
  return el;
}

// ------------------------------------------------------------------ JSON schema → form
function deref(root, node) {
  let guard = 0;
  while (node && node.$ref && guard++ < 32) {
    const path = node.$ref.replace(/^#\//, "").split("/");
    let target = root;
    for (const p of path) target = target ? target[p] : undefined;
    const rest = Object.assign({}, node);
    delete rest.$ref;
    node = Object.assign({}, target || {}, rest);
  }
  return node || {};
}

function unwrapOptional(root, prop) {
  prop = deref(root, prop);
  const union = prop.anyOf || prop.oneOf;
  if (union) {
    const nonNull = union.map((p) => deref(root, p)).filter((p) => p.type !== "null");
    if (nonNull.length === 1) {
      const inner = Object.assign({}, nonNull[0]);
      for (const k of ["title", "description", "default"]) if (prop[k] !== undefined && inner[k] === undefined) inner[k] = prop[k];
      return { prop: inner, optional: nonNull.length < union.length };
    }
  }
  return { prop, optional: false };
}

/** Build one field; returns {el, get} where get() gives the value (undefined = omitted).
 *  `value` (optional) is an earlier answer to show instead of the default. */
function buildField(root, rawProp, path, required, value) {
  const { prop, optional } = unwrapOptional(root, rawProp);
  const name = path[path.length - 1];
  const wrap = h("div", "polos-field");
  wrap.dataset.field = path.join(".");
  const mandatory = required && !optional && prop.default === undefined;
  const label = h("label", "polos-field-label", (prop.title || name) + (mandatory ? " *" : ""));
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
  const initial = value !== undefined ? value : prop.default;
  let get;
  let input;
  const id = `polos-${Math.random().toString(36).slice(2)}`;
  label.htmlFor = id;
  if (prop.enum) {
    input = h("select", "polos-input");
    const names = prop["x-enumNames"] || prop.enum;
    if (!mandatory) {
      const none = h("option", "", "—");
      none.value = "";
      input.appendChild(none);
    }
    prop.enum.forEach((v, i) => {
      const o = h("option", "", names[i] ?? v);
      o.value = JSON.stringify(v);
      if (initial !== undefined && JSON.stringify(initial) === o.value) o.selected = true;
      input.appendChild(o);
    });
    if (initial === undefined && mandatory) input.selectedIndex = -1;  // no silent first choice
    get = () => (input.value === "" ? undefined : JSON.parse(input.value));
  } else if (type === "boolean") {
    input = h("input", "polos-input");
    input.type = "checkbox";
    input.checked = initial === true;
    get = () => input.checked;
  } else if (type === "number" || type === "integer") {
    input = h("input", "polos-input");
    input.type = "number";
    input.step = type === "integer" ? "1" : "any";
    if (prop.minimum !== undefined) input.min = prop.minimum;
    if (prop.maximum !== undefined) input.max = prop.maximum;
    if (initial !== undefined && initial !== null) input.value = initial;
    get = () => {
      if (input.value.trim() === "") return undefined;
      const n = Number(input.value);
      return Number.isNaN(n) ? input.value : n;
    };
  } else if (type === "string") {
    const area = prop["x-widget"] === "textarea" || (prop.maxLength || 0) > 200;
    input = h(area ? "textarea" : "input", "polos-input");
    if (!area) input.type = prop.format === "email" ? "email" : prop.format === "uri" ? "url" : prop.format === "date" ? "date" : "text";
    if (initial !== undefined && initial !== null) input.value = initial;
    // A blank answer is no answer: Python then says "this field is required" if it is.
    get = () => (input.value.trim() === "" ? undefined : input.value);
  } else if (type === "array" && prop.items) {
    const items = unwrapOptional(root, prop.items).prop;
    if (items.enum) {
      input = h("div", "polos-multi");
      const boxes = items.enum.map((v, i) => {
        const lab = h("label", "polos-multi-option");
        const box = h("input", "polos-input");
        box.type = "checkbox";
        box.value = JSON.stringify(v);
        if (Array.isArray(initial) && initial.includes(v)) box.checked = true;
        lab.appendChild(box);
        lab.appendChild(document.createTextNode(" " + ((items["x-enumNames"] || items.enum)[i] ?? v)));
        input.appendChild(lab);
        return box;
      });
      get = () => boxes.filter((b) => b.checked).map((b) => JSON.parse(b.value));
    } else if (["string", "number", "integer", "boolean"].includes(items.type)) {
      input = h("input", "polos-input");
      input.type = "text";
      input.placeholder = "comma-separated";
      if (Array.isArray(initial)) input.value = initial.join(", ");
      get = () => {
        if (input.value.trim() === "") return mandatory ? [] : undefined;
        return input.value.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
          if (items.type === "number" || items.type === "integer") { const n = Number(s); return Number.isNaN(n) ? s : n; }
          if (items.type === "boolean") return s === "true";
          return s;
        });
      };
    }
  } else if ((type === "object" || prop.properties) && prop.properties) {
    const fs = h("fieldset", "polos-fieldset");
    fs.appendChild(h("legend", "", prop.title || name));
    const sub = buildObject(root, prop, path, null, initial && typeof initial === "object" ? initial : undefined);
    fs.appendChild(sub.el);
    wrap.appendChild(fs);
    wrap.appendChild(h("div", "polos-field-error"));
    return { el: wrap, get: sub.get };
  }
  if (!input) {
    input = h("textarea", "polos-input polos-json");
    input.placeholder = "JSON";
    if (initial !== undefined) input.value = JSON.stringify(initial);
    get = () => {
      if (input.value.trim() === "") return undefined;
      try { return JSON.parse(input.value); } catch (_e) { return input.value; }
    };
  }
  input.id = id;
  input.name = path.join(".");
  if (mandatory) input.setAttribute("aria-required", "true");
  if (name === "feedback") input.classList.add("polos-feedback");
  wrap.appendChild(label);
  if (prop.description) wrap.appendChild(mdElement("div", "polos-field-help", prop.description));
  wrap.appendChild(input);
  wrap.appendChild(h("div", "polos-field-error"));
  return { el: wrap, get };
}

function buildObject(root, schema, path, skip, values) {
  schema = deref(root, schema);
  const el = h("div", "polos-fields");
  const required = new Set(schema.required || []);
  const getters = {};
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    if (skip && skip.has(name)) continue;
    const value = values && Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined;
    const field = buildField(root, prop, path.concat([name]), required.has(name), value === null ? undefined : value);
    getters[name] = field.get;
    el.appendChild(field.el);
  }
  const get = () => {
    const out = {};
    for (const [name, g] of Object.entries(getters)) {
      const v = g();
      if (v !== undefined) out[name] = v;
    }
    return out;
  };
  return { el, get };
}

// ------------------------------------------------------------------ one approval
const DONE_TEXT = {
  approved: "Approved", approved_always: "Approved (always)", rejected: "Rejected", answered: "Answered",
  closed: "Closed (the run ended)", sending: "Sending…", invalid: "Please fix the fields marked in red.",
  error: "Could not deliver the answer.", pending: "Waiting for you.",
};
const ANSWERED = ["approved", "approved_always", "rejected", "answered"];

function buildApproval(model, entry, send) {
  const box = h("div", "polos-approval");
  box.dataset.key = entry.key;
  const head = h("div", "polos-approval-title", entry.title || "Input needed");
  head.appendChild(document.createTextNode(" "));
  head.appendChild(h("code", "polos-approval-key", entry.key));
  box.appendChild(head);
  if (entry.description) box.appendChild(mdElement("div", "polos-approval-description", entry.description));
  if (entry.context !== null && entry.context !== undefined) {
    box.appendChild(h("pre", "polos-context", JSON.stringify(entry.context, null, 2)));
  }
  const form = h("form", "polos-form");
  form.addEventListener("submit", (ev) => ev.preventDefault());
  const schema = entry.schema || { type: "object", properties: {} };
  const skip = entry.approval ? new Set(["approved"]) : new Set();
  // An answered form shows the answer it got (also when the view is built again later).
  const answered = entry.answer_data && typeof entry.answer_data === "object" ? entry.answer_data : undefined;
  const body = buildObject(schema, schema, [], skip, answered);
  form.appendChild(body.el);
  const formError = h("div", "polos-form-error");
  form.appendChild(formError);
  const buttons = h("div", "polos-buttons");
  const button = (cls, label, decision) => {
    const b = h("button", `polos-button ${cls}`, label);
    b.type = "button";
    b.addEventListener("click", () => {
      let data = body.get();
      // Rejecting asks nothing but (optional) feedback: the other fields are not required.
      if (decision === "reject") data = data.feedback !== undefined ? { feedback: data.feedback } : {};
      send({ kind: "submit", key: entry.key, decision, data });
    });
    buttons.appendChild(b);
    return b;
  };
  if (entry.approval) {
    button("polos-approve", "Approve once", "approve");
    if (entry.tool) button("polos-approve-always", `Always allow ${entry.tool}`, "always");
    button("polos-reject", "Reject", "reject");
  } else {
    button("polos-submit", "Submit", "submit");
  }
  form.appendChild(buttons);
  box.appendChild(form);
  const status = h("div", "polos-approval-status");
  box.appendChild(status);
  return { box, form, formError, status, answered: answered !== undefined };
}

function updateApproval(view, entry, locked) {
  const st = entry.status || "pending";
  view.box.dataset.status = st;
  view.status.textContent = DONE_TEXT[st] || st;
  if (entry.answer && ANSWERED.includes(st)) view.status.textContent += ` — ${entry.answer}`;
  const open = !locked && (st === "pending" || st === "invalid" || st === "error");
  for (const el of view.form.querySelectorAll("input, select, textarea, button")) el.disabled = !open;
  const errors = entry.errors || {};
  for (const fe of view.form.querySelectorAll(".polos-field-error")) fe.textContent = "";
  for (const f of view.form.querySelectorAll(".polos-field")) f.classList.remove("polos-invalid");
  const unplaced = [];
  for (const [path, msg] of Object.entries(errors)) {
    const field = path ? view.form.querySelector(`.polos-field[data-field="${CSS.escape(path)}"]`) : null;
    if (field) {
      field.classList.add("polos-invalid");
      field.querySelector(":scope > .polos-field-error").textContent = msg;
    } else {
      unplaced.push(path ? `${path}: ${msg}` : msg);
    }
  }
  view.formError.textContent = unplaced.join("; ");
}

// ------------------------------------------------------------------ the widget
function render({ model, el }) {
  const root = h("div", "polos-run polos-live");
  const header = h("div", "polos-run-header");
  const title = h("span", "polos-run-title");
  const runId = h("code", "polos-run-id");
  const status = h("span", "polos-run-status polos-badge");
  const elapsed = h("span", "polos-run-elapsed");
  const cancel = h("button", "polos-button polos-cancel", "Cancel");
  cancel.type = "button";
  header.append(title, runId, status, elapsed, cancel);
  const banner = h("div", "polos-banner");
  banner.style.display = "none";
  const note = h("div", "polos-note");
  const steps = h("div", "polos-steps");
  const tools = h("div", "polos-tools");
  const stream = h("pre", "polos-stream");
  const approvals = h("div", "polos-approvals");
  const output = h("div", "polos-output");
  const error = h("div", "polos-error");
  const usage = h("div", "polos-usage");
  root.append(header, banner, note, steps, tools, stream, approvals, output, error, usage);
  el.appendChild(root);

  const approvalViews = new Map();
  let streamed = model.get("text") || "";
  let disconnected = false;

  // ---------------------------------------------------------------- staying honest
  // After a kernel restart (or shutdown) this view is dead: clicks would go nowhere.
  // It says so, and how to get a live view, instead of looking usable.
  const manager = model.widget_manager;
  const kernelOf = () => { try { return manager && "kernel" in manager ? manager.kernel : undefined; } catch (_e) { return undefined; } };
  const kernel0 = kernelOf();
  const kernelId0 = kernel0 ? kernel0.id : undefined;
  const markDisconnected = () => {
    if (disconnected) return;
    disconnected = true;
    root.classList.add("polos-disconnected");
    banner.replaceChildren();
    if (model.get("done")) {
      banner.append("Disconnected from its kernel. The run had ended: what this view shows is final.");
    } else {
      banner.append(
        "Disconnected: this view belonged to a kernel that restarted or stopped, so it no longer "
        + "updates and its buttons do nothing. The run is safe in the journal: run ",
        h("code", "", "%load_ext polos_nb"), " (or ", h("code", "", `%polos show ${model.get("run_id")}`),
        ") in the running kernel for a live view with its forms.",
      );
    }
    banner.style.display = "";
    renderHeader();
    renderApprovals();
  };
  const checkConnection = () => {
    if (disconnected) return;
    if (el.closest(".jupyter-widgets-disconnected") || root.closest(".jupyter-widgets-disconnected")) return markDisconnected();
    if (kernel0 === undefined) return;  // a frontend without a kernel handle (not JupyterLab)
    const k = kernelOf();
    if (!k || k.id !== kernelId0 || k.status === "dead" || k.isDisposed) markDisconnected();
  };
  // A restart keeps the kernel's id and connection object: listen to its status.
  const onStatus = (_k, status) => {
    if (status === "restarting" || status === "autorestarting" || status === "dead") markDisconnected();
  };
  const onDisposed = () => markDisconnected();
  if (kernel0 && kernel0.statusChanged && kernel0.statusChanged.connect) {
    kernel0.statusChanged.connect(onStatus);
    if (kernel0.disposed && kernel0.disposed.connect) kernel0.disposed.connect(onDisposed);
  }
  const send = (msg) => {
    checkConnection();
    if (disconnected) return;
    try { model.send(msg); } catch (_e) { markDisconnected(); }
  };
  cancel.addEventListener("click", () => send({ kind: "cancel" }));

  const renderHeader = () => {
    const st = model.get("status");
    root.dataset.status = st;
    title.textContent = `${model.get("workflow_type")} ${model.get("workflow_id")}`;
    runId.textContent = model.get("run_id");
    if (disconnected) {
      status.textContent = `disconnected · last seen ${st}`;
      status.dataset.status = "disconnected";
    } else {
      status.textContent = `${ICON[st] || ""} ${st}`;
      status.dataset.status = st;
    }
    const a = model.get("started_at");
    const b = model.get("ended_at");
    elapsed.textContent = a && b ? fmtMs(new Date(b) - new Date(a)) : "";
    cancel.style.display = model.get("done") || disconnected ? "none" : "";
    const n = model.get("note");
    note.textContent = n || "";
    note.style.display = n ? "" : "none";
  };
  // Steps that are still running (a slow model call, a suspension waiting for you) are
  // listed with the time they have taken so far.
  const live = [];
  const renderSteps = () => {
    steps.replaceChildren();
    live.length = 0;
    for (const s of model.get("steps") || []) {
      const row = h("div", "polos-step");
      row.dataset.key = s.key;
      row.dataset.status = s.status || "";
      const duration = h("span", "polos-step-duration", fmtMs(s.ms));
      row.append(
        h("span", "polos-step-icon", ICON[s.status] || "•"),
        h("span", "polos-step-key", s.key),
        h("span", "polos-step-kind", s.kind || ""),
        duration,
        h("span", "polos-step-tokens", s.tokens ? `${s.tokens.input}→${s.tokens.output} tok` : ""),
        h("span", s.error ? "polos-step-error" : "polos-step-detail", s.error || s.detail || ""),
      );
      if ((s.status === "running" || s.status === "waiting") && s.started) live.push([duration, Date.parse(s.started)]);
      steps.appendChild(row);
    }
    tick();
  };
  const tick = () => {
    if (disconnected) return;
    const now = Date.now();
    for (const [span, t0] of live) if (!Number.isNaN(t0)) span.textContent = fmtMs(Math.max(0, now - t0));
  };
  const renderTools = () => {
    tools.replaceChildren();
    for (const t of model.get("tools") || []) {
      const row = h("div", "polos-tool-call");
      row.dataset.callId = t.call_id;
      row.dataset.status = t.status || "";
      row.append(
        h("span", "polos-tool-name", t.name),
        h("code", "polos-tool-args", `(${t.arguments || ""})`),
        h("span", "polos-tool-status", ICON[t.status] || t.status || ""),
        h("span", t.error ? "polos-tool-error" : "polos-tool-result", t.error || t.result || ""),
      );
      tools.appendChild(row);
    }
  };
  const renderStream = () => {
    stream.textContent = streamed;
    stream.style.display = streamed && streamed !== model.get("output") ? "" : "none";
  };
  const renderApprovals = () => {
    const entries = model.get("approvals") || [];
    for (const entry of entries) {
      let view = approvalViews.get(entry.key);
      const answeredNow = entry.answer_data && typeof entry.answer_data === "object";
      if (view && answeredNow && !view.answered && !view.box.contains(document.activeElement)) {
        // rebuilt once with the answer it got, so the form shows what was sent
        const fresh = buildApproval(model, entry, send);
        view.box.replaceWith(fresh.box);
        view = fresh;
        approvalViews.set(entry.key, view);
      }
      if (!view) {
        view = buildApproval(model, entry, send);
        approvalViews.set(entry.key, view);
        approvals.appendChild(view.box);
      }
      updateApproval(view, entry, disconnected);
    }
  };
  const renderResult = () => {
    const out = model.get("output");
    output.replaceChildren();
    if (out !== null && out !== undefined) {
      output.append(h("div", "polos-output-label", "Output"), h("pre", "polos-output-value", out));
    }
    output.style.display = out !== null && out !== undefined ? "" : "none";
    const err = model.get("error");
    error.textContent = err || "";
    error.style.display = err ? "" : "none";
    const u = model.get("usage") || {};
    const parts = [];
    if (u.input_tokens || u.output_tokens) {
      parts.push(`tokens in ${u.input_tokens || 0} · out ${u.output_tokens || 0}`);
      parts.push(u.cost_usd !== undefined && u.cost_usd !== null ? `$${Number(u.cost_usd).toFixed(6)}` : "no price");
    }
    usage.textContent = parts.join(" · ");
    usage.style.display = parts.length ? "" : "none";
    renderStream();
  };
  const all = () => { renderHeader(); renderSteps(); renderTools(); renderStream(); renderApprovals(); renderResult(); };

  const onMsg = (msg) => {
    if (msg && msg.kind === "delta") {
      streamed += msg.text;
      renderStream();
    }
  };
  const onText = () => { streamed = model.get("text") || ""; renderStream(); };
  const handlers = [
    ["change:status change:workflow_id change:run_id change:started_at change:ended_at change:done change:note change:workflow_type", renderHeader],
    ["change:steps", renderSteps],
    ["change:tools", renderTools],
    ["change:approvals", renderApprovals],
    ["change:output change:error change:usage", renderResult],
    ["change:text", onText],
    ["msg:custom", onMsg],
    ["comm_live_update", () => setTimeout(checkConnection, 0)],
  ];
  const bound = [];
  for (const [evs, fn] of handlers) for (const ev of evs.split(" ")) { model.on(ev, fn); bound.push([ev, fn]); }
  all();
  const timer = setInterval(() => { checkConnection(); tick(); }, 1000);
  return () => {
    clearInterval(timer);
    if (kernel0 && kernel0.statusChanged && kernel0.statusChanged.disconnect) {
      kernel0.statusChanged.disconnect(onStatus);
      if (kernel0.disposed && kernel0.disposed.disconnect) kernel0.disposed.disconnect(onDisposed);
    }
    for (const [ev, fn] of bound) model.off(ev, fn);
  };
}

export default { render };
