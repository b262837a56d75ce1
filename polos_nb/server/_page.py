"""The approval page: a suspension's form as a plain HTML page (no JavaScript needed).

Rendered on the server from the same form spec the notebook's widget uses
(``polos_nb.notebook._forms.form_spec``), so it works on a phone's browser and
anywhere scripts are blocked. The answer comes back as an ordinary form post
(``application/x-www-form-urlencoded``); :func:`answer_from_form` turns the fields
back into JSON by the schema, and the answer is validated in Python like any other.

Field names are dotted paths (``address.city``); an enum option's value is its JSON
text; a list of options is a group of checkboxes; a list of plain values is one
comma-separated text field; anything else is a JSON text area.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["answer_from_form", "render_page"]

_CSS = """
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#fff;--card:#f6f8fa;--line:#d0d7de;
--accent:#0969da;--ok:#1a7f37;--bad:#cf222e}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;
--line:#30363d;--accent:#4493f8;--ok:#3fb950;--bad:#f85149}}
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;
color:var(--fg);background:var(--bg)}main{max-width:640px;margin:0 auto;padding:16px}
h1{font-size:1.3em;margin:.2em 0 .4em}.meta{color:var(--muted);font-size:.85em;word-break:break-all}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px;margin:12px 0}
.polos-field{margin:12px 0}.polos-field-label{display:block;font-weight:600;margin-bottom:4px}
.polos-field-help{color:var(--muted);font-size:.85em;margin-bottom:4px}
input[type=text],input[type=number],input[type=email],input[type=url],select,textarea{width:100%;
font:inherit;padding:10px;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}
textarea{min-height:5em}input[type=checkbox]{width:1.3em;height:1.3em;vertical-align:middle}
.polos-field-error,.polos-form-error{color:var(--bad);font-size:.9em}
.polos-invalid input,.polos-invalid textarea,.polos-invalid select{border-color:var(--bad)}
.buttons{display:flex;flex-wrap:wrap;gap:8px;margin-top:16px}
button{font:inherit;font-weight:600;padding:12px 18px;border-radius:8px;border:1px solid var(--line);
background:var(--card);color:var(--fg);flex:1 1 auto;min-height:48px}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{color:var(--bad)}pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:.85em}
.done{border-color:var(--ok)}.done h1{color:var(--ok)}fieldset{border:1px solid var(--line);border-radius:8px}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _deref(root: dict[str, Any], node: Any) -> dict[str, Any]:
    guard = 0
    while isinstance(node, dict) and "$ref" in node and guard < 32:
        target: Any = root
        for part in str(node["$ref"]).lstrip("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**(target if isinstance(target, dict) else {}), **rest}
        guard += 1
    return node if isinstance(node, dict) else {}


def _unwrap(root: dict[str, Any], prop: Any) -> tuple[dict[str, Any], bool]:
    prop = _deref(root, prop)
    union = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(union, list):
        options = [_deref(root, p) for p in union]
        non_null = [p for p in options if p.get("type") != "null"]
        if len(non_null) == 1:
            inner = dict(non_null[0])
            for k in ("title", "description", "default"):
                if k in prop and k not in inner:
                    inner[k] = prop[k]
            return inner, len(non_null) < len(options)
    return prop, False


def _type(prop: dict[str, Any]) -> str | None:
    t = prop.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t if isinstance(t, str) else None


def _field_html(
    root: dict[str, Any],
    raw: Any,
    path: list[str],
    required: bool,
    values: dict[str, Any],
    errors: dict[str, str],
) -> str:
    prop, optional = _unwrap(root, raw)
    name = ".".join(path)
    kind = _type(prop)
    label = str(prop.get("title") or path[-1]) + (" *" if required and not optional else "")
    ident = "f-" + "-".join(path)
    value = values.get(name, prop.get("default"))
    error = errors.get(name, "")
    cls = "polos-field polos-invalid" if error else "polos-field"
    if (kind == "object" or "properties" in prop) and isinstance(prop.get("properties"), dict):
        inner = _object_html(root, prop, path, values, errors, skip=set())
        return (
            f'<div class="{cls}" data-field="{e(name)}"><fieldset><legend>{e(prop.get("title") or path[-1])}'
            f"</legend>{inner}</fieldset></div>"
        )
    help_html = (
        f'<div class="polos-field-help">{e(prop.get("description"))}</div>'
        if prop.get("description")
        else ""
    )
    if isinstance(prop.get("enum"), list):
        names = prop.get("x-enumNames") or prop["enum"]
        opts = []
        if not required or optional or "default" not in prop:
            opts.append('<option value="">—</option>')
        for i, option in enumerate(prop["enum"]):
            text = json.dumps(option)
            chosen = " selected" if value is not None and json.dumps(value) == text else ""
            shown = names[i] if i < len(names) else option
            opts.append(f'<option value="{e(text)}"{chosen}>{e(shown)}</option>')
        control = f'<select id="{ident}" name="{e(name)}">{"".join(opts)}</select>'
    elif kind == "boolean":
        checked = " checked" if value is True or value == "on" else ""
        control = f'<input type="checkbox" id="{ident}" name="{e(name)}" value="on"{checked}>'
    elif kind in ("number", "integer"):
        limits = "".join(
            f' {attr}="{e(prop[key])}"'
            for key, attr in (("minimum", "min"), ("maximum", "max"))
            if prop.get(key) is not None
        )
        step = "1" if kind == "integer" else "any"
        shown = "" if value is None else value
        control = (
            f'<input type="number" inputmode="decimal" step="{step}"{limits} id="{ident}" '
            f'name="{e(name)}" value="{e(shown)}">'
        )
    elif kind == "string":
        shown = "" if value is None else value
        if prop.get("x-widget") == "textarea" or (prop.get("maxLength") or 0) > 200:
            control = f'<textarea id="{ident}" name="{e(name)}">{e(shown)}</textarea>'
        else:
            kind_attr = {"email": "email", "uri": "url"}.get(str(prop.get("format")), "text")
            control = f'<input type="{kind_attr}" id="{ident}" name="{e(name)}" value="{e(shown)}">'
    elif kind == "array" and isinstance(prop.get("items"), dict):
        items, _ = _unwrap(root, prop["items"])
        if isinstance(items.get("enum"), list):
            names = items.get("x-enumNames") or items["enum"]
            chosen_values = value if isinstance(value, list) else []
            boxes = []
            for i, option in enumerate(items["enum"]):
                checked = " checked" if option in chosen_values else ""
                shown = names[i] if i < len(names) else option
                boxes.append(
                    f'<label><input type="checkbox" name="{e(name)}" value="{e(json.dumps(option))}"'
                    f"{checked}> {e(shown)}</label><br>"
                )
            control = f'<div id="{ident}">{"".join(boxes)}</div>'
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else (value or "")
            control = (
                f'<input type="text" id="{ident}" name="{e(name)}" value="{e(shown)}" '
                'placeholder="comma-separated">'
            )
    else:
        shown = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
        control = (
            f'<textarea id="{ident}" name="{e(name)}" placeholder="JSON">{e(shown)}</textarea>'
        )
    return (
        f'<div class="{cls}" data-field="{e(name)}"><label class="polos-field-label" for="{ident}">'
        f"{e(label)}</label>{help_html}{control}"
        f'<div class="polos-field-error">{e(error)}</div></div>'
    )


def _object_html(
    root: dict[str, Any],
    schema: dict[str, Any],
    path: list[str],
    values: dict[str, Any],
    errors: dict[str, str],
    skip: set[str],
) -> str:
    schema = _deref(root, schema)
    required = set(schema.get("required") or [])
    return "".join(
        _field_html(root, prop, [*path, name], name in required, values, errors)
        for name, prop in (schema.get("properties") or {}).items()
        if name not in skip
    )


def render_page(
    approval: dict[str, Any] | None,
    *,
    xsrf_html: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    done: dict[str, Any] | None = None,
    run_id: str = "",
    key: str = "",
) -> str:
    """The whole page: the form of ``approval`` (a hub approval), or a closing message."""
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e((approval or {}).get('form', {}).get('title') or 'Approval')} · polos_nb</title>"
        f"<style>{_CSS}</style></head><body><main>"
    )
    tail = "</main></body></html>"
    if done is not None:
        answer = json.dumps(done.get("delivered"), ensure_ascii=False, indent=1, default=str)
        return (
            head
            + '<div class="card done polos-approval-done"><h1>Answered</h1>'
            + "<p>The run continues with your answer.</p>"
            + f"<pre>{e(answer)}</pre>"
            + f'<p class="meta">run {e(run_id)} · {e(key)}</p></div>'
            + tail
        )
    if approval is None:
        return (
            head
            + '<div class="card polos-approval-missing"><h1>Nothing to answer</h1>'
            + f"<p>{e(message or 'This request is not waiting any more.')}</p>"
            + f'<p class="meta">run {e(run_id)} · {e(key)}</p></div>'
            + tail
        )
    spec = approval.get("form") or {}
    schema = spec.get("schema") or {"type": "object", "properties": {}}
    values = values or {}
    errors = errors or {}
    is_approval = bool(spec.get("approval"))
    parts = [head, '<div class="card polos-approval-page">']
    parts.append(f"<h1>{e(spec.get('title') or 'Input needed')}</h1>")
    parts.append(
        f'<div class="meta">{e(approval.get("workflow_id"))} · run {e(approval.get("root_execution_id"))}'
        f" · {e(approval.get('key'))}"
        + (f" · {e(approval.get('notebook'))}" if approval.get("notebook") else "")
        + "</div>"
    )
    if spec.get("description"):
        parts.append(f"<p>{e(spec['description'])}</p>")
    if spec.get("context") is not None:
        context = json.dumps(spec["context"], ensure_ascii=False, indent=2, default=str)
        parts.append(f'<pre class="polos-context">{e(context)}</pre>')
    parts.append('<form method="post" class="polos-form">')
    parts.append(xsrf_html)
    parts.append(
        _object_html(schema, schema, [], values, errors, {"approved"} if is_approval else set())
    )
    if errors.get(""):
        parts.append(f'<div class="polos-form-error">{e(errors[""])}</div>')
    elif message:
        parts.append(f'<div class="polos-form-error">{e(message)}</div>')
    parts.append('<div class="buttons">')
    if is_approval:
        parts.append(
            '<button class="primary polos-approve" name="decision" value="approve">Approve</button>'
        )
        if spec.get("tool"):
            parts.append(
                '<button class="polos-approve-always" name="decision" value="always">'
                f"Always allow {e(spec['tool'])}</button>"
            )
        parts.append(
            '<button class="danger polos-reject" name="decision" value="reject">Reject</button>'
        )
    else:
        parts.append(
            '<button class="primary polos-submit" name="decision" value="submit">Submit</button>'
        )
    parts.append("</div></form></div>")
    parts.append(tail)
    return "".join(parts)


def answer_from_form(spec: dict[str, Any], fields: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON answer of a posted form (field name → the values posted under it)."""
    schema = spec.get("schema") or {"type": "object", "properties": {}}
    skip = {"approved"} if spec.get("approval") else set()
    return _object_value(schema, schema, [], fields, skip)


def _object_value(
    root: dict[str, Any],
    schema: dict[str, Any],
    path: list[str],
    fields: dict[str, list[str]],
    skip: set[str],
) -> dict[str, Any]:
    schema = _deref(root, schema)
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for name, raw in (schema.get("properties") or {}).items():
        if name in skip:
            continue
        value = _value(root, raw, [*path, name], name in required, fields)
        if value is not _MISSING:
            out[name] = value
    return out


class _Missing:
    pass


_MISSING: Any = _Missing()


def _value(
    root: dict[str, Any], raw: Any, path: list[str], required: bool, fields: dict[str, list[str]]
) -> Any:
    prop, optional = _unwrap(root, raw)
    name = ".".join(path)
    kind = _type(prop)
    posted = fields.get(name) or []
    first = posted[0] if posted else ""
    if (kind == "object" or "properties" in prop) and isinstance(prop.get("properties"), dict):
        return _object_value(root, prop, path, fields, set())
    if isinstance(prop.get("enum"), list):
        if first == "":
            return _MISSING
        try:
            return json.loads(first)
        except ValueError:
            return first
    if kind == "boolean":
        return first == "on" or first == "true"
    if kind in ("number", "integer"):
        if first.strip() == "":
            return _MISSING
        try:
            number = float(first)
        except ValueError:
            return first  # validation names the field
        return int(number) if number.is_integer() and kind == "integer" else number
    if kind == "string":
        if first == "" and (optional or not required):
            return _MISSING
        return first
    if kind == "array" and isinstance(prop.get("items"), dict):
        items, _ = _unwrap(root, prop["items"])
        if isinstance(items.get("enum"), list):
            values = []
            for text in posted:
                try:
                    values.append(json.loads(text))
                except ValueError:
                    values.append(text)
            return values
        if first.strip() == "":
            return _MISSING if (optional or not required) else []
        parts = [p.strip() for p in first.split(",") if p.strip()]
        item_kind = _type(items)
        if item_kind in ("number", "integer"):
            return [_number(p) for p in parts]
        if item_kind == "boolean":
            return [p == "true" for p in parts]
        return parts
    if first.strip() == "":
        return _MISSING
    try:
        return json.loads(first)
    except ValueError:
        return first


def _number(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number
