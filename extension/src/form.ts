// A suspension's form, from the form spec the notebook layer builds (polos_nb/notebook/_forms.py).
//
// The same rules as the run widget's form (polos_nb/widgets/static/run.js) and the same
// CSS classes, so an approval looks and behaves the same inline, in the inbox and on the
// approval page: enums are selects, booleans checkboxes, numbers number inputs, strings
// text inputs (text areas when long), lists of options checkbox groups, lists of plain
// values comma-separated text, nested objects fieldsets, anything else a JSON text area.
// The answer is validated in Python; its per-field errors come back to setErrors().

import { h } from './format';
import type { Decision, FormSpec, JSONSchema } from './types';

type Getter = () => unknown;

function deref(root: JSONSchema, node: JSONSchema | undefined): JSONSchema {
  let guard = 0;
  let current: JSONSchema = node || {};
  while (current && typeof current.$ref === 'string' && guard++ < 32) {
    let target: any = root;
    for (const part of current.$ref.replace(/^#\//, '').split('/')) {
      target = target ? target[part] : undefined;
    }
    const rest: JSONSchema = { ...current };
    delete rest.$ref;
    current = { ...(target || {}), ...rest };
  }
  return current || {};
}

function unwrapOptional(
  root: JSONSchema,
  raw: JSONSchema
): { prop: JSONSchema; optional: boolean } {
  const prop = deref(root, raw);
  const union: JSONSchema[] | undefined = prop.anyOf || prop.oneOf;
  if (Array.isArray(union)) {
    const options = union.map(p => deref(root, p));
    const nonNull = options.filter(p => p.type !== 'null');
    if (nonNull.length === 1) {
      const inner: JSONSchema = { ...nonNull[0] };
      for (const k of ['title', 'description', 'default']) {
        if (prop[k] !== undefined && inner[k] === undefined) {
          inner[k] = prop[k];
        }
      }
      return { prop: inner, optional: nonNull.length < options.length };
    }
  }
  return { prop, optional: false };
}

function typeOf(prop: JSONSchema): string | undefined {
  const t = prop.type;
  if (Array.isArray(t)) {
    return t.find((x: string) => x !== 'null');
  }
  return typeof t === 'string' ? t : undefined;
}

let counter = 0;

function buildField(
  root: JSONSchema,
  raw: JSONSchema,
  path: string[],
  required: boolean
): { el: HTMLElement; get: Getter } {
  const { prop, optional } = unwrapOptional(root, raw);
  const name = path[path.length - 1];
  const wrap = h('div', 'polos-field');
  wrap.dataset.field = path.join('.');
  const kind = typeOf(prop);
  if ((kind === 'object' || prop.properties) && prop.properties) {
    const fieldset = h('fieldset', 'polos-fieldset');
    fieldset.appendChild(h('legend', '', prop.title || name));
    const sub = buildObject(root, prop, path);
    fieldset.appendChild(sub.el);
    wrap.appendChild(fieldset);
    wrap.appendChild(h('div', 'polos-field-error'));
    return { el: wrap, get: sub.get };
  }
  const label = h(
    'label',
    'polos-field-label',
    (prop.title || name) + (required && !optional ? ' *' : '')
  );
  const id = `polos-lab-field-${++counter}`;
  label.htmlFor = id;
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | HTMLElement;
  let get: Getter;
  if (Array.isArray(prop.enum)) {
    const select = h('select', 'polos-input');
    const names: unknown[] = prop['x-enumNames'] || prop.enum;
    if (!required || optional || prop.default === undefined) {
      const none = h('option', '', '—');
      none.value = '';
      select.appendChild(none);
    }
    prop.enum.forEach((v: unknown, i: number) => {
      const option = h('option', '', String(names[i] ?? v));
      option.value = JSON.stringify(v);
      if (prop.default !== undefined && JSON.stringify(prop.default) === option.value) {
        option.selected = true;
      }
      select.appendChild(option);
    });
    input = select;
    get = () => (select.value === '' ? undefined : JSON.parse(select.value));
  } else if (kind === 'boolean') {
    const box = h('input', 'polos-input');
    box.type = 'checkbox';
    box.checked = prop.default === true;
    input = box;
    get = () => box.checked;
  } else if (kind === 'number' || kind === 'integer') {
    const num = h('input', 'polos-input');
    num.type = 'number';
    num.step = kind === 'integer' ? '1' : 'any';
    if (prop.minimum !== undefined) {
      num.min = String(prop.minimum);
    }
    if (prop.maximum !== undefined) {
      num.max = String(prop.maximum);
    }
    if (prop.default !== undefined && prop.default !== null) {
      num.value = String(prop.default);
    }
    input = num;
    get = () => {
      if (num.value === '') {
        return undefined;
      }
      const n = Number(num.value);
      return isNaN(n) ? num.value : n;
    };
  } else if (kind === 'string') {
    const area = prop['x-widget'] === 'textarea' || (prop.maxLength || 0) > 200;
    const text = area ? h('textarea', 'polos-input') : h('input', 'polos-input');
    if (!area) {
      (text as HTMLInputElement).type =
        prop.format === 'email' ? 'email' : prop.format === 'uri' ? 'url' : 'text';
    }
    if (prop.default !== undefined && prop.default !== null) {
      text.value = String(prop.default);
    }
    input = text;
    get = () => (text.value === '' && (optional || !required) ? undefined : text.value);
  } else if (kind === 'array' && prop.items) {
    const items = unwrapOptional(root, prop.items).prop;
    if (Array.isArray(items.enum)) {
      const group = h('div', 'polos-multi');
      const names: unknown[] = items['x-enumNames'] || items.enum;
      const boxes = items.enum.map((v: unknown, i: number) => {
        const option = h('label', 'polos-multi-option');
        const box = h('input', 'polos-input');
        box.type = 'checkbox';
        box.value = JSON.stringify(v);
        if (Array.isArray(prop.default) && prop.default.includes(v)) {
          box.checked = true;
        }
        option.appendChild(box);
        option.appendChild(document.createTextNode(' ' + String(names[i] ?? v)));
        group.appendChild(option);
        return box;
      });
      input = group;
      get = () =>
        boxes
          .filter((b: HTMLInputElement) => b.checked)
          .map((b: HTMLInputElement) => JSON.parse(b.value));
    } else {
      const list = h('input', 'polos-input');
      list.type = 'text';
      list.placeholder = 'comma-separated';
      if (Array.isArray(prop.default)) {
        list.value = prop.default.join(', ');
      }
      input = list;
      get = () => {
        if (list.value.trim() === '') {
          return optional || !required ? undefined : [];
        }
        return list.value
          .split(',')
          .map(s => s.trim())
          .filter(s => s !== '')
          .map(s => {
            if (items.type === 'number' || items.type === 'integer') {
              const n = Number(s);
              return isNaN(n) ? s : n;
            }
            if (items.type === 'boolean') {
              return s === 'true';
            }
            return s;
          });
      };
    }
  } else {
    const json = h('textarea', 'polos-input polos-json');
    json.placeholder = 'JSON';
    if (prop.default !== undefined) {
      json.value = JSON.stringify(prop.default);
    }
    input = json;
    get = () => {
      if (json.value.trim() === '') {
        return undefined;
      }
      try {
        return JSON.parse(json.value);
      } catch {
        return json.value;
      }
    };
  }
  input.id = id;
  if ('name' in input) {
    (input as HTMLInputElement).name = path.join('.');
  }
  if (name === 'feedback') {
    input.classList.add('polos-feedback');
  }
  wrap.appendChild(label);
  if (prop.description) {
    wrap.appendChild(h('div', 'polos-field-help', prop.description));
  }
  wrap.appendChild(input);
  wrap.appendChild(h('div', 'polos-field-error'));
  return { el: wrap, get };
}

function buildObject(
  root: JSONSchema,
  schema: JSONSchema,
  path: string[],
  skip?: Set<string>
): { el: HTMLElement; get: () => Record<string, unknown> } {
  const resolved = deref(root, schema);
  const el = h('div', 'polos-fields');
  const required = new Set<string>(resolved.required || []);
  const getters: Record<string, Getter> = {};
  for (const [name, prop] of Object.entries(resolved.properties || {})) {
    if (skip && skip.has(name)) {
      continue;
    }
    const field = buildField(root, prop as JSONSchema, path.concat([name]), required.has(name));
    getters[name] = field.get;
    el.appendChild(field.el);
  }
  const get = () => {
    const out: Record<string, unknown> = {};
    for (const [name, getter] of Object.entries(getters)) {
      const value = getter();
      if (value !== undefined) {
        out[name] = value;
      }
    }
    return out;
  };
  return { el, get };
}

export interface FormView {
  node: HTMLElement;
  /** The current answer (the form's fields as JSON). */
  value(): Record<string, unknown>;
  /** Show per-field errors (field path → message; "" for the whole form). */
  setErrors(errors: Record<string, string>): void;
  /** Enable or disable every control (while an answer is on its way). */
  setBusy(busy: boolean): void;
  setStatus(text: string): void;
}

/** The form of one suspension; ``onSubmit`` gets the button's decision and the answer. */
export function buildForm(
  spec: FormSpec,
  onSubmit: (decision: Decision, data: Record<string, unknown>) => void
): FormView {
  const box = h('div', 'polos-approval');
  box.dataset.key = spec.key;
  box.appendChild(h('div', 'polos-approval-title', spec.title || 'Input needed'));
  if (spec.description) {
    box.appendChild(h('div', 'polos-approval-description', spec.description));
  }
  if (spec.context !== null && spec.context !== undefined) {
    box.appendChild(h('pre', 'polos-context', JSON.stringify(spec.context, null, 2)));
  }
  const form = h('form', 'polos-form');
  form.addEventListener('submit', ev => ev.preventDefault());
  const schema = spec.schema || { type: 'object', properties: {} };
  const body = buildObject(schema, schema, [], spec.approval ? new Set(['approved']) : undefined);
  form.appendChild(body.el);
  const formError = h('div', 'polos-form-error');
  form.appendChild(formError);
  const buttons = h('div', 'polos-buttons');
  const button = (cls: string, label: string, decision: Decision) => {
    const b = h('button', `polos-button ${cls}`, label);
    b.type = 'button';
    b.addEventListener('click', () => onSubmit(decision, body.get()));
    buttons.appendChild(b);
  };
  if (spec.approval) {
    button('polos-approve', 'Approve once', 'approve');
    if (spec.tool) {
      button('polos-approve-always', `Always allow ${spec.tool}`, 'always');
    }
    button('polos-reject', 'Reject', 'reject');
  } else {
    button('polos-submit', 'Submit', 'submit');
  }
  form.appendChild(buttons);
  box.appendChild(form);
  const status = h('div', 'polos-approval-status');
  box.appendChild(status);

  const setErrors = (errors: Record<string, string>) => {
    formError.textContent = '';
    form.querySelectorAll('.polos-field').forEach(f => f.classList.remove('polos-invalid'));
    form.querySelectorAll('.polos-field-error').forEach(f => (f.textContent = ''));
    const unplaced: string[] = [];
    for (const [path, message] of Object.entries(errors || {})) {
      const field = path
        ? form.querySelector(`.polos-field[data-field="${path.replace(/["\\]/g, '\\$&')}"]`)
        : null;
      const slot = field ? field.querySelector(':scope > .polos-field-error') : null;
      if (field && slot) {
        field.classList.add('polos-invalid');
        slot.textContent = message;
      } else {
        unplaced.push(path ? `${path}: ${message}` : message);
      }
    }
    formError.textContent = unplaced.join('; ');
  };
  return {
    node: box,
    value: () => body.get(),
    setErrors,
    setBusy: (busy: boolean) => {
      form
        .querySelectorAll('input, select, textarea, button')
        .forEach(el => ((el as HTMLInputElement).disabled = busy));
      box.dataset.status = busy ? 'sending' : 'pending';
    },
    setStatus: (text: string) => {
      status.textContent = text;
    }
  };
}
