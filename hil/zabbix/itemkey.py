"""Zabbix item keys: ``name[param,"quoted param",...]``, and the user macros in them.

The stand-in server resolves a template's macros in each key before it hands the
key to the agent, as a Zabbix server does; the check reads an ``mqtt.get`` item's
topic from the resolved key. Written by hand: no Python library parses Zabbix
item keys (the grammar is Zabbix's manual, "Item key format").
"""
from __future__ import annotations

import re

MACRO = re.compile(r"\{\$[A-Z0-9_.]+(?::[^}]*)?\}")
_NEEDS_QUOTES = re.compile(r'[,\]"]|^\s|^\[')


class ItemKeyError(ValueError):
    """An item key that does not parse; the message says where."""


def parse(key: str) -> tuple[str, list[str]]:
    """(name, [param, ...]) of an item key, each param unquoted and unescaped.
    Nested arrays (``[a,[b,c]]``) are not used by the template and are refused."""
    name, bracket, rest = key.partition("[")
    if not bracket:
        return key, []
    if not rest.endswith("]"):
        raise ItemKeyError(f"item key {key!r}: no closing ']'")
    body, params, i = rest[:-1], [], 0
    while True:
        while i < len(body) and body[i] == " ":
            i += 1
        if i < len(body) and body[i] == '"':
            j, out = i + 1, []
            while j < len(body) and body[j] != '"':
                if body[j] == "\\" and j + 1 < len(body) and body[j + 1] == '"':
                    j += 1
                out.append(body[j])
                j += 1
            if j >= len(body):
                raise ItemKeyError(f"item key {key!r}: a quoted parameter is not closed")
            params.append("".join(out))
            i = j + 1
            while i < len(body) and body[i] == " ":
                i += 1
            if i < len(body) and body[i] != ",":
                raise ItemKeyError(f"item key {key!r}: text after a quoted parameter")
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            if "[" in body[i:j] or "]" in body[i:j]:
                raise ItemKeyError(f"item key {key!r}: nested arrays are not supported")
            params.append(body[i:j].rstrip())
            i = j
        if i >= len(body):
            return name, params
        i += 1  # the comma


def build(name: str, params: list[str]) -> str:
    """An item key from its parts, quoting a param where Zabbix's grammar needs it."""
    if not params:
        return name
    quoted = ['"' + p.replace('"', '\\"') + '"' if _NEEDS_QUOTES.search(p) else p for p in params]
    return f"{name}[{','.join(quoted)}]"


def resolve(key: str, macros: dict[str, str]) -> str:
    """The key with every user macro replaced by its value, as the server sends it
    to the agent; ItemKeyError naming a macro that has no value."""
    def value(m: re.Match) -> str:
        macro = m.group(0)
        if macro not in macros:
            raise ItemKeyError(f"item key {key!r}: no value for the macro {macro}")
        return macros[macro]

    name, params = parse(key)
    return build(name, [MACRO.sub(value, p) for p in params])
