// The run widget's ESM against jsdom: render, deltas, the form from a JSON schema, a submit,
// errors shown under fields, a closed form, cancel, cleanup. Run by tests/notebook/test_widget_js.py.
import { JSDOM } from "jsdom";
const dom = new JSDOM("<!doctype html><div id=root></div>");
globalThis.document = dom.window.document;
globalThis.CSS = { escape: (s) => s.replace(/["\\]/g, "\\$&") };
const widget = (await import(process.argv[2])).default;
const assert = (cond, what) => { if (!cond) { console.error("FAIL:", what); process.exit(1); } };
const listeners = {};
const sent = [];
const state = {
  run_id: "R1", workflow_id: "flow", workflow_type: "workflow", status: "waiting", steps: [
    { key: "double", kind: "run", status: "completed", ms: 12, detail: "10" }],
  tools: [{ call_id: "c1", name: "add", arguments: '{"a": 1}', status: "completed", result: "2" }],
  text: "Hel", usage: { input_tokens: 3, output_tokens: 4, cost_usd: 0.0001 }, output: null, error: null, note: null,
  started_at: null, ended_at: null, done: false,
  approvals: [{ key: "check", title: "Go on?", description: "d", context: { order: 7 }, approval: true, tool: "add",
    status: "pending", errors: {}, schema: { type: "object", required: ["approved", "limit", "address"], properties: {
      approved: { type: "boolean" }, limit: { type: "integer", minimum: 1, maximum: 10, title: "Limit" },
      color: { enum: ["red", "blue"], default: "red" }, tags: { type: "array", items: { type: "string" } },
      address: { $ref: "#/$defs/Address" }, feedback: { anyOf: [{ type: "string", "x-widget": "textarea" }, { type: "null" }], default: null } },
      $defs: { Address: { type: "object", properties: { zip: { type: "string" } }, required: ["zip"] } } } }],
};
const model = {
  get: (k) => state[k],
  on: (ev, fn) => { (listeners[ev] ||= []).push(fn); },
  off: (ev, fn) => { listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn); },
  send: (m) => sent.push(m),
};
const fire = (ev, ...args) => (listeners[ev] || []).forEach((f) => f(...args));
const el = document.getElementById("root");
const cleanup = widget.render({ model, el });
const q = (s) => el.querySelector(s);
assert(q(".polos-run-status").dataset.status === "waiting", "status"); assert(q('.polos-step[data-key="double"] .polos-step-duration').textContent === "12 ms", "duration");
assert(q(".polos-tool-call .polos-tool-name").textContent === "add", "tool"); assert(q(".polos-usage").textContent.includes("tokens in 3"), "usage");
fire("msg:custom", { kind: "delta", text: "lo" });
assert(q(".polos-stream").textContent === "Hello", "delta appended");
assert([...el.querySelectorAll(".polos-field")].map((f) => f.dataset.field).join(",") === "limit,color,tags,address,address.zip,feedback", "fields");
assert(q(".polos-approve") && q(".polos-approve-always") && q(".polos-reject") && !q(".polos-submit"), "buttons");
q('input[name="limit"]').value = "50";
q('input[name="address.zip"]').value = "12345";
q('input[name="tags"]').value = "a, b";
q('textarea[name="feedback"]').value = "fine";
q(".polos-approve-always").click();
assert(JSON.stringify(sent[0]) === JSON.stringify({kind: "submit", key: "check", decision: "always", data: {limit: 50, color: "red", tags: ["a", "b"], address: {zip: "12345"}, feedback: "fine"}}), "submit message " + JSON.stringify(sent[0]));
state.approvals = [{ ...state.approvals[0], status: "invalid", errors: { limit: "Input should be less than or equal to 10", "": "whole form" } }];
fire("change:approvals");
assert(q('.polos-field[data-field="limit"] .polos-field-error').textContent.includes("less than"), "field error"); assert(q('.polos-field[data-field="limit"]').classList.contains("polos-invalid"), "invalid class"); assert(q(".polos-form-error").textContent === "whole form", "form error");
assert(q('input[name="limit"]').value === "50", "typed value kept");
state.approvals = [{ ...state.approvals[0], status: "approved_always", errors: {}, answer: '{"approved": true}' }];
state.status = "completed"; state.done = true; state.output = "{\"a\": 1}"; state.text = "Hello";
fire("change:approvals"); fire("change:status"); fire("change:output"); fire("change:text");
assert(q(".polos-approval").dataset.status === "approved_always" && q(".polos-approve").disabled, "closed form"); assert(q(".polos-output-value").textContent === '{"a": 1}', "output"); assert(q(".polos-cancel").style.display === "none", "cancel hidden");
q(".polos-cancel").click();
assert(sent[1].kind === "cancel", "cancel");
cleanup();
assert(Object.values(listeners).reduce((n, l) => n + l.length, 0) === 0, "cleanup removes listeners");
console.log("ok");
