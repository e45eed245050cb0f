"""`str.format` templates over item fields: `prompt`, `choices`, `answer` and `text` of a task."""

from __future__ import annotations

import string

from ..data.load import Item
from ..spec.shape import Fields, is_field_path


class Template:
    """A `str.format` template over field names and dotted paths (`{meta.age}`), no index access."""

    def __init__(self, text: str, key: str, raise_error) -> None:
        self.text = text
        self.key = key
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise raise_error(f"bad template {text!r}: {exc}", key,
                              "literal braces are written `{{` and `}}`") from None
        self.fields: list[str] = []
        safe = []  # the template with fields replaced by positions: "{meta.age}" -> "{0}"
        for literal, name, spec, conversion in parsed:
            safe.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is None:
                continue
            if not is_field_path(name):
                raise raise_error(f"template field {{{name}}} must be a plain field name or a dotted path of them", key,
                                  "use `{field}` or `{field.subfield}`; index access `[...]` is not allowed")
            safe.append("{%d%s%s}" % (len(self.fields), "!" + conversion if conversion else "",
                                      ":" + spec if spec else ""))
            self.fields.append(name)
        self.safe = "".join(safe)

    def render(self, item: Item, raise_item_error) -> str:
        fields = item.fields if isinstance(item.fields, Fields) else Fields(item.fields)
        missing = [f for f in self.fields if f not in fields]
        if missing:
            raise raise_item_error(item, f"field '{missing[0]}' used in `{self.key}` is missing from item "
                                         f"{item.index} (its fields: {', '.join(map(str, item.fields)) or 'none'})",
                                   self.key)
        try:
            return self.safe.format(*(fields[f] for f in self.fields))
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise raise_item_error(item, f"cannot render `{self.key}` for item {item.index}: {exc}", self.key) from None
