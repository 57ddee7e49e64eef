"""The consumer check: the bridge's values through a real zabbix_agent2, held to
the oracle as a model of the Zabbix 6.0 server would store them.

No Zabbix server runs here. A model of one (hil.zabbix.protocol speaks the
agent's active-check protocol; `stored` and `preprocess` below keep values as the
Zabbix 6.0 manual says a server does) hands the agent the template's items with
the macros filled in for the rig's broker; the agent's MQTT plugin subscribes to
the bridge's topics on the rig's mosquitto; the capture is replayed; every value
the agent sends back is converted as the model converts it for the
item's value type, dependent items get their preprocessing, and each value is
compared with the oracle (dsmr-parser's reading of the same bytes). Values no
oracle holds (the status JSON, online) must equal what the rig's own subscriber
received. A problem names the item (its name and key) and what the model says Zabbix would do.

    with ConsumerCheck(template_tree, broker, rig.base_topic, workdir) as check:
        ... replay ...
        result = check.verdict(expected, subscriber.values(retained=True))
"""
from __future__ import annotations

import difflib
import json
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from jsonpath_ng import parse as jsonpath
from jsonpath_ng.exceptions import JsonPathParserError

from ..oracle.expected import expected_sequence, matches
from ..net.broker import Mosquitto
from ..net.subscriber import Subscriber
from . import itemkey
from .agent import AgentError, ZabbixAgent2
from .protocol import ActiveChecksServer, Delivered

HOSTNAME = "p1-bridge-hil"
AGENT_TYPES = ("ZABBIX_ACTIVE",)
CHAR_MAX, TEXT_MAX = 255, 65535
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TYPE_WORDS = {"FLOAT": "Numeric (float)", "UNSIGNED": "Numeric (unsigned)", "CHAR": "Character", "TEXT": "Text"}


class CheckError(RuntimeError):
    """The check could not run (agent, broker, template); the message says why."""


class NotStorable(ValueError):
    """A value Zabbix would refuse for the item's value type (its own words)."""


def stored(value_type: str, text: str):
    """The value as the model of a Zabbix 6.0 server stores it for an item of
    value_type: float, int or str; NotStorable with Zabbix's reason otherwise.

    The rules follow the Zabbix 6.0 manual's "Type of information"
    (https://www.zabbix.com/documentation/6.0/en/manual/config/items/item):
    Numeric (unsigned) is a 64-bit unsigned integer; Numeric (float) a 64-bit
    float of about 15 digits within about +-1.79E+308, scientific notation
    accepted; Character is short text and Text long text, kept in the history
    tables the API documents per type
    (https://www.zabbix.com/documentation/6.0/en/manual/api/reference/history/object).
    Not from the manual, and so the model's own reading: the 255 and 65,535
    character limits (the 6.0 database schema's history_str and history_text
    columns), the trimming of spaces, quotes and a leading '+' before a number
    is parsed, and the refusal's wording (the server log's)."""
    if value_type in ("FLOAT", "UNSIGNED"):
        trimmed = text.strip(' "').lstrip("+")  # the server trims spaces and quotes, and a leading '+'
        if value_type == "UNSIGNED" and trimmed.isdigit() and int(trimmed) < 2 ** 64:
            return int(trimmed)
        if value_type == "FLOAT" and _FLOAT.fullmatch(trimmed) and abs(float(trimmed)) < 1e308:
            return float(trimmed)
        raise NotStorable(f'Value of type "string" is not suitable for value type "{_TYPE_WORDS[value_type]}". '
                          f'Value "{text}"')
    if value_type in ("CHAR", "TEXT"):
        limit = CHAR_MAX if value_type == "CHAR" else TEXT_MAX
        if len(text) > limit:
            raise NotStorable(f"{_TYPE_WORDS[value_type]} value of {len(text)} characters: Zabbix keeps {limit}")
        return text
    raise NotStorable(f"value type {value_type} is not modelled by the check")


@dataclass(frozen=True)
class Item:
    """One template item as the check sees it."""
    itemid: int
    name: str
    key: str  # as in the template
    type: str
    value_type: str
    resolved: str = ""  # the key the agent gets (macros filled in)
    topic: str | None = None  # mqtt.get's topic, resolved
    master: str | None = None  # a dependent item's master key (template form)
    preprocessing: tuple = ()  # ((type, (parameters...)), ...)

    @property
    def label(self) -> str:
        return f"{self.name} [{self.key}]"


def template_items(tree: dict, macros: dict[str, str]) -> list[Item]:
    """Every item of the template's first template, with the template's macros,
    overridden by `macros`, filled in."""
    template = tree["zabbix_export"]["templates"][0]
    values = {m["macro"]: str(m.get("value", "")) for m in template.get("macros", [])}
    values.update(macros)
    items = []
    for n, raw in enumerate(template.get("items", []), start=1):
        kind = raw.get("type", "ZABBIX_PASSIVE")
        item = Item(itemid=n, name=raw["name"], key=raw["key"], type=kind,
                    value_type=raw.get("value_type", "UNSIGNED"),
                    master=(raw.get("master_item") or {}).get("key"),
                    preprocessing=tuple((p["type"], tuple(p.get("parameters", [])))
                                        for p in raw.get("preprocessing", [])))
        if kind in AGENT_TYPES:
            try:
                resolved = itemkey.resolve(raw["key"], values)
                name, params = itemkey.parse(resolved)
            except itemkey.ItemKeyError as e:
                raise CheckError(f"template item {raw['name']!r}: {e}") from e
            topic = params[1] if name == "mqtt.get" and len(params) > 1 else None
            item = Item(**{**item.__dict__, "resolved": resolved, "topic": topic})
        items.append(item)
    return items


def preprocess(item: Item, value: str) -> str:
    """A dependent item's value from its master's, by its preprocessing steps
    (JSONPath, as Zabbix: a JSON string without quotes, anything else as JSON text)."""
    for kind, params in item.preprocessing:
        if kind != "JSONPATH":
            raise NotStorable(f"preprocessing step {kind} is not modelled by the check")
        try:
            found = jsonpath(params[0]).find(json.loads(value))
        except (JsonPathParserError, ValueError) as e:
            raise NotStorable(f"JSONPath {params[0]!r} on {value[:60]!r}: {e}") from e
        if not found:
            raise NotStorable(f"cannot extract value from json by path \"{params[0]}\": no data matches")
        got = found[0].value
        value = got if isinstance(got, str) else json.dumps(got)
    return value


@dataclass
class ItemResult:
    item: Item
    delivered: str | None  # the latest value the agent sent (the master's for a dependent item)
    value: object = None  # as the model of Zabbix stores it
    want: object = None  # the oracle's (or the rig subscriber's) value
    problem: str | None = None


@dataclass
class CheckResult:
    rows: list[ItemResult] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{r.item.label}: {r.problem}" for r in self.rows if r.problem]

    @property
    def passed(self) -> bool:
        return bool(self.rows) and not self.problems


class ConsumerCheck:
    """zabbix_agent2 and the model of a Zabbix server for one check on `broker`.

    On entry, the agent has its items and has subscribed to every item's topic
    on the broker (or reported the item unsupported); CheckError otherwise."""

    def __init__(self, tree: dict, broker: Mosquitto, base_topic: str, workdir: Path, *, timeout: float = 30):
        self.broker = broker
        self.base_topic = base_topic
        self.timeout = timeout
        url = f"tcp://{broker.host}:{broker.port}"
        self.items = template_items(tree, {"{$DSMR_MQTT_SERVERURL}": url, "{$DSMR_MQTT_USERNAME}": broker.user,
                                           "{$DSMR_MQTT_PASSWORD}": broker.password,
                                           "{$DSMR_MQTT_TOPIC}": base_topic})
        self.agent_items = [i for i in self.items if i.type in AGENT_TYPES]
        self._server = ActiveChecksServer(HOSTNAME, {i.itemid: i.resolved for i in self.agent_items})
        self._agent = ZabbixAgent2(Path(workdir), HOSTNAME, "")
        self._entered = False

    def __enter__(self) -> "ConsumerCheck":
        since = self.broker.log_mark()
        self._server.__enter__()
        self._agent.server_active = self._server.address
        try:
            self._agent.__enter__()
            self._entered = True
            self._wait_subscribed(since)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._entered:
            self._agent.__exit__(*exc)
        self._server.__exit__(*exc)

    def _wait_subscribed(self, since: int) -> None:
        topics = {i.itemid: i.topic for i in self.agent_items if i.topic}
        deadline = time.monotonic() + self.timeout
        while True:
            self._agent.check_running()
            seen = self.broker.subscribed_topics(since)
            unsupported = {v.itemid for v in self._server.values() if v.state == 1}
            waiting = {n: t for n, t in topics.items() if t not in seen and n not in unsupported}
            if not waiting:
                return
            if time.monotonic() > deadline:
                asked = "asked for its items" if self._server.requests else "never asked for its items"
                raise CheckError(
                    f"zabbix_agent2 ({asked}) did not subscribe to {len(waiting)} of {len(topics)} topics within "
                    f"{self.timeout:.0f} s, e.g. {sorted(waiting.values())[:3]}; refused: {self._server.refused}\n"
                    f"--- the agent's log ---\n{self._agent.log_tail()}")
            time.sleep(0.1)  # the broker's log is a file: nothing to wait on but its growth

    # -- after the replay ----------------------------------------------------------
    def latest(self) -> dict[int, Delivered]:
        """Item id -> the latest value the agent sent for it."""
        return {v.itemid: v for v in self._server.values()}

    def latest_by_topic(self) -> dict[str, str]:
        """Topic -> the latest value the agent sent for it (supported items only)."""
        latest = self.latest()
        return {i.topic: latest[i.itemid].value for i in self.agent_items
                if i.topic and i.itemid in latest and not latest[i.itemid].state}

    def wait_delivered(self, fresh: set[str], retained: set[str], after: float, timeout: float = 15) -> bool:
        """Until the agent has sent a value for every item whose topic is in
        `fresh` that it took after `after` (time.time()), and any value for those
        in `retained` (delivered when it subscribed); False on timeout."""
        want_new = {i.itemid for i in self.agent_items if i.topic in fresh}
        want_any = {i.itemid for i in self.agent_items if i.topic in retained}

        def done(server: ActiveChecksServer) -> bool:
            values = server.values()
            new = {v.itemid for v in values if v.clock >= after or v.state == 1}
            return want_new <= new and want_any <= {v.itemid for v in values}

        return self._server.wait(done, timeout)

    def verdict(self, expected: dict[str, Decimal | str | dict], published: dict[str, list]) -> CheckResult:
        """Every item's latest value against the oracle. expected: topic name →
        the oracle's value; published: topic name → the messages the rig's own
        subscriber received (hil.net.subscriber.Subscriber.values(retained=True))."""
        by_key = {i.key: i for i in self.items}
        result = CheckResult()
        prefix = self.base_topic + "/"
        latest = self.latest()
        for item in self.items:
            row = ItemResult(item, None)
            result.rows.append(row)
            if item.type == "DEPENDENT":
                master = by_key.get(item.master or "")
                got = latest.get(master.itemid) if master else None
                if master is None:
                    row.problem = f"its master item {item.master!r} is not in the template"
                    continue
                if got is None or got.state:
                    row.problem = f"no value: its master item {master.name!r} has none"
                    continue
                row.delivered = got.value
                try:
                    row.value = stored(item.value_type, preprocess(item, got.value))
                except NotStorable as e:
                    row.problem = f"Zabbix would not store it: {e}"
                continue
            if item.type not in AGENT_TYPES:
                row.problem = f"item type {item.type} is not checked (only Zabbix agent (active) items)"
                continue
            name = item.topic[len(prefix):] if item.topic and item.topic.startswith(prefix) else None
            got = latest.get(item.itemid)
            if got is not None and got.state:
                row.problem = f"not supported by zabbix_agent2: {got.value}"
                continue
            if got is None:
                if item.topic is None:
                    row.problem = "no value (not an mqtt.get item: the check only knows the bridge's topics)"
                elif name not in published:
                    close = difflib.get_close_matches(name or item.topic, list(published), n=1)
                    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
                    row.problem = f"no value: the bridge never published {item.topic} during the check{hint}"
                else:
                    row.problem = f"no value: zabbix_agent2 delivered none for {item.topic}, which the bridge published"
                continue
            row.delivered = got.value
            try:
                row.value = stored(item.value_type, got.value)
            except NotStorable as e:
                row.problem = f"Zabbix would not store it: {e}"
                continue
            if name in expected:
                row.want = expected[name]
                ok = (row.value == float(row.want) if isinstance(row.want, Decimal) and item.value_type == "FLOAT"
                      else matches(got.value.encode(), row.want))
                if not ok:
                    row.problem = f"stored {row.value!r}, the oracle reads {row.want}"
            else:
                seen = [m.text for m in published.get(name, [])]
                row.want = seen[-1] if seen else None
                if got.value not in seen:
                    row.problem = (f"delivered {got.value!r}, which the rig's subscriber never received on "
                                   f"{item.topic} (it got {seen[-3:]})")
        return result


def check_replay(rig, broker: Mosquitto, tree: dict, name: str, data: bytes, workdir: Path, *,
                 expect: str = "all", interval_ms: int = 1000, progress=lambda msg: None) -> CheckResult:
    """Replay a capture once on a rig that is up and check every template item's
    value through zabbix_agent2 against the oracle's reading of its last telegram."""
    telegrams = expected_sequence(data, expect)
    want = telegrams[-1]
    prefix = rig.base_topic + "/"
    with Subscriber(broker.host, broker.port, broker.user, broker.password, rig.base_topic) as sub:
        progress("starting zabbix_agent2 and waiting for its MQTT subscriptions")
        with ConsumerCheck(tree, broker, rig.base_topic, workdir) as check:
            remote = rig.upload_capture(name, data)
            progress(f"replaying {name} ({len(telegrams)} telegram{'s' if len(telegrams) > 1 else ''})")
            t0, m0 = time.time(), time.monotonic()
            rig.play([remote], interval_ms=interval_ms, count=1)
            sub.wait_for_names(want, timeout=15, since=m0)
            # The status and online as of after the replay, where the bridge sends
            # them often enough (the rig's config: every 2 s); else the retained ones.
            side = {i.topic for i in check.agent_items if i.topic and i.topic[len(prefix):] not in want}
            sub.wait_for(lambda msgs: side <= {m.topic for m in msgs if m.at >= m0 and not m.retain}, timeout=5)
            messages = sub.snapshot()
            fresh = {m.topic for m in messages if m.at >= m0 and not m.retain}
            progress("waiting for zabbix_agent2's values")
            check.wait_delivered(fresh, {m.topic for m in messages if m.topic.startswith(prefix)} - fresh, t0)
            # A status the agent got a moment before the rig's subscriber did is no mismatch.
            agent_got = {t: v for t, v in check.latest_by_topic().items() if t in side}
            sub.wait_for(lambda msgs: all(any(m.topic == t and m.text == v for m in msgs)
                                          for t, v in agent_got.items()), timeout=5)
            return check.verdict(want, sub.values(retained=True))


__all__ = ["AgentError", "CheckError", "CheckResult", "ConsumerCheck", "Item", "NotStorable", "stored",
           "template_items", "preprocess", "check_replay"]
