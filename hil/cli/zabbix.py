"""`hil zabbix-template` and `hil zabbix-check`: the bridge's Zabbix consumers.

    hil zabbix-template [-o FILE]     write the Zabbix 6.0 template (generated from the
                                      firmware's tables) to FILE or stdout
    hil zabbix-check                  the virtual rig: replay the SX631 capture, read every
                                      template item through a real zabbix_agent2, compare
                                      each stored value with the oracle
    hil zabbix-check --rig-config FILE [--emulator-port SPEC --bridge-port SPEC --broker-host H]
                                      the same on the bench's real boards and broker
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.table import Table

from .ui import add_bridge_deploy, console, fail, run_alone


def cmd_template(args) -> int:
    from ..zabbix.template import render

    text = render()
    if args.output is None:
        print(text, end="")
        return 0
    try:
        Path(args.output).write_text(text)
    except OSError as e:
        return fail(f"cannot write {args.output}: {e.strerror or e}")
    console.print(f"wrote {args.output}: import it in Zabbix (Configuration → Templates → Import)")
    return 0


def _shown(value, width: int = 12) -> str:
    text = "…" if value is None else str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def _table(result) -> Table:
    table = Table(title="Zabbix items through zabbix_agent2", expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("item", max_width=28, overflow="ellipsis", no_wrap=True)
    table.add_column("type", no_wrap=True, min_width=8)
    for col in ("agent sent", "model stores", "expected"):
        table.add_column(col, no_wrap=True)
    for row in result.rows:
        sent = "(status JSON)" if row.item.type == "DEPENDENT" else _shown(row.delivered)
        want = "(JSONPath)" if row.item.type == "DEPENDENT" else _shown(row.want)
        table.add_row("[red]✗[/]" if row.problem else "[green]✓[/]", row.item.name, row.item.value_type, sent,
                      _shown(row.value), want)
    return table


def cmd_check(args) -> int:
    from ..oracle.capture_check import usable_capture
    from ..p1.captures import CaptureError, sx631
    from ..rig.session import BridgeSpec, RigSpec, RigUsageError, bench_spec, open_rig
    from ..zabbix.agent import AgentError, find_agent
    from ..zabbix.check import CheckError, check_replay
    from ..zabbix.template import build, load

    try:
        find_agent()
        tree = load(args.template) if args.template else build()
        if args.capture:
            name, data = Path(args.capture).name, usable_capture(args.capture)
        else:
            pick = sx631()
            name, data = pick.file, pick.data
        real = bool(args.rig_config or args.emulator_port or args.bridge_port)
        spec = bench_spec(args.rig_config, broker_host=args.broker_host, emulator_port=args.emulator_port,
                          bridge_port=args.bridge_port, bridge_deploy=args.bridge_deploy) if real \
            else RigSpec(bridge=BridgeSpec(deploy=args.bridge_deploy))
    except (AgentError, CaptureError, ValueError, RigUsageError) as e:
        return fail(str(e))
    progress = lambda m: console.print(f"[cyan]…[/] {m}")  # noqa: E731
    try:
        with tempfile.TemporaryDirectory(prefix="hil-zabbix-") as work, open_rig(spec, progress) as session:
            result = check_replay(session.rig, session.broker, tree, name, data, Path(work) / "agent",
                                  progress=progress)
    except (AgentError, CheckError, RigUsageError) as e:
        return fail(str(e))
    console.print(_table(result))
    for problem in result.problems:
        console.print(f"[red]✗[/] {problem}")
    good = result.passed
    console.print(f"{len(result.rows) - len(result.problems)} of {len(result.rows)} template items: a value Zabbix "
                  f"stores, equal to the oracle's (status and online: to what the rig's subscriber got)"
                  + ("" if good else f"; {len(result.problems)} not"))
    return 0 if good else 1


def add_parsers(sub) -> None:
    """Add `zabbix-template` and `zabbix-check` to an argparse subparsers object."""
    t = sub.add_parser("zabbix-template", help="write the Zabbix 6.0 template for the bridge (generated)")
    t.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: stdout)")
    t.set_defaults(func=cmd_template)
    c = sub.add_parser("zabbix-check", help="check every template item through a real zabbix_agent2",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--template", metavar="FILE",
                   help="a Zabbix template export to check (default: the generated one, as in integrations/zabbix/)")
    c.add_argument("--capture", metavar="FILE", help="a capture of yours to replay (default: the SX631 telegram)")
    c.add_argument("--rig-config", metavar="FILE", help="the bench's rig config (real boards, WiFi, broker)")
    c.add_argument("--emulator-port", metavar="SPEC", help="real emulator board (device, serial:…, location:…)")
    c.add_argument("--bridge-port", metavar="SPEC", help="real bridge board")
    c.add_argument("--broker-host", help="this PC's LAN address for mosquitto (real boards)")
    add_bridge_deploy(c)
    c.set_defaults(func=cmd_check)


def main(argv=None) -> int:
    return run_alone(add_parsers, __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
