import { describe, expect, it, vi } from 'vitest';

import { buildForm } from '../form';
import type { FormSpec } from '../types';

function spec(over: Partial<FormSpec>): FormSpec {
  return {
    key: 'review',
    title: 'Refund?',
    description: '',
    context: null,
    schema: { type: 'object', properties: {} },
    approval: false,
    tool: null,
    source: null,
    ...over
  };
}

function click(root: HTMLElement, selector: string): void {
  (root.querySelector(selector) as HTMLButtonElement).click();
}

describe('buildForm', () => {
  it('renders an approval as buttons plus feedback, without the approved checkbox', () => {
    const submit = vi.fn();
    const form = buildForm(
      spec({
        approval: true,
        tool: 'delete_file',
        schema: {
          type: 'object',
          properties: {
            approved: { type: 'boolean', title: 'Approve' },
            feedback: { anyOf: [{ type: 'string', 'x-widget': 'textarea' }, { type: 'null' }], title: 'Feedback', default: null }
          },
          required: ['approved']
        }
      }),
      submit
    );
    const root = form.node;
    expect(root.querySelector('[data-field="approved"]')).toBeNull();
    expect(root.querySelector('textarea.polos-feedback')).not.toBeNull();
    expect(root.querySelector('.polos-approve-always')?.textContent).toBe('Always allow delete_file');
    (root.querySelector('textarea') as HTMLTextAreaElement).value = 'too risky';
    click(root, '.polos-reject');
    expect(submit).toHaveBeenCalledWith('reject', { feedback: 'too risky' });
  });

  it('turns a JSON schema into typed fields and reads them back', () => {
    const submit = vi.fn();
    const form = buildForm(
      spec({
        schema: {
          type: 'object',
          properties: {
            amount: { type: 'number', minimum: 0 },
            count: { type: 'integer' },
            reason: { type: 'string' },
            level: { enum: ['low', 'high'], type: 'string' },
            tags: { type: 'array', items: { type: 'string' } },
            colors: { type: 'array', items: { enum: ['red', 'blue'] } },
            address: { $ref: '#/$defs/Address' },
            note: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null }
          },
          required: ['amount', 'reason'],
          $defs: { Address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }
        }
      }),
      submit
    );
    const root = form.node;
    const input = (field: string) =>
      root.querySelector(`[data-field="${field}"] .polos-input`) as HTMLInputElement;
    expect(input('amount').type).toBe('number');
    expect(input('amount').min).toBe('0');
    expect(input('count').step).toBe('1');
    expect(root.querySelector('[data-field="level"] select')).not.toBeNull();
    expect(root.querySelector('[data-field="address"] fieldset legend')?.textContent).toBe('address');
    input('amount').value = '12.5';
    input('count').value = '3';
    input('reason').value = 'broken';
    (root.querySelector('[data-field="level"] select') as HTMLSelectElement).value = '"high"';
    input('tags').value = 'a, b,, c';
    const boxes = root.querySelectorAll('[data-field="colors"] input');
    (boxes[1] as HTMLInputElement).checked = true;
    input('address.city').value = 'Paris';
    click(root, '.polos-submit');
    expect(submit).toHaveBeenCalledWith('submit', {
      amount: 12.5,
      count: 3,
      reason: 'broken',
      level: 'high',
      tags: ['a', 'b', 'c'],
      colors: ['blue'],
      address: { city: 'Paris' }
    });
  });

  it('shows per-field errors from Python and clears them', () => {
    const form = buildForm(
      spec({ schema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } }),
      () => undefined
    );
    form.setErrors({ amount: 'this field is required', '': 'try again' });
    const field = form.node.querySelector('[data-field="amount"]') as HTMLElement;
    expect(field.classList.contains('polos-invalid')).toBe(true);
    expect(field.querySelector('.polos-field-error')?.textContent).toBe('this field is required');
    expect(form.node.querySelector('.polos-form-error')?.textContent).toBe('try again');
    form.setErrors({});
    expect(field.classList.contains('polos-invalid')).toBe(false);
    form.setBusy(true);
    expect((form.node.querySelector('button') as HTMLButtonElement).disabled).toBe(true);
  });
});
