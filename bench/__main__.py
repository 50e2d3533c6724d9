"""``python -m bench [--quick] [--only kit,servers] [--json PATH] [--plot PATH]``

Measures the machine's baseline first (cores, memory, CPU, versions, a sequential
file write and read, a raw loopback copy), then runs the groups in order (kit,
uploads, downloads, protocols, concurrency, servers), and prints one table per
group with every figure's ratio to its limit, named after it: the machine's own
(file write or read, the raw asyncio reference server) or another run (HTTP/1.1,
the delay). Then the project's targets, each met or MISSED. The same figures go to
JSON and a PNG plot (both under ``bench/results/``, git-ignored, unless told otherwise).

A group whose module is missing shows as "not available"; a group that raises
shows as "error", the others still run, and the exit code is 1.
Quick mode (under two minutes for the servers group) is for smoke tests and the
chapters; the full mode (1 GiB bodies, 10,000 connections) is what bench/README.md's
table comes from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from bench.report import GROUPS, baseline, describe, format_table, machine, plot, run_groups, write_json

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs")
    parser.add_argument("--only", metavar="G1,G2", help=f"run only these groups (of {','.join(GROUPS)})")
    parser.add_argument("--json", metavar="PATH", default=str(RESULTS / "latest.json"),
                        help="where to write the results as JSON (default: %(default)s)")
    parser.add_argument("--plot", metavar="PATH", default=str(RESULTS / "latest.png"),
                        help="where to write the plot as PNG (default: %(default)s; 'none' to skip)")
    args = parser.parse_args(argv)

    names = GROUPS
    if args.only:
        chosen = [name.strip() for name in args.only.split(",") if name.strip()]
        # The usual order first; an unknown name is kept and reported as "not available".
        names = [g for g in GROUPS if g in chosen] + [g for g in chosen if g not in GROUPS]

    started = time.perf_counter()
    bar = tqdm(total=len(names) + 1, desc="machine baseline", unit="group", file=sys.stderr,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]")
    info = machine()
    failed = False
    try:
        rows = baseline(quick=args.quick)
    except Exception as error:  # noqa: BLE001 - reported, and the groups still run
        rows, failed = [], True
        tqdm.write(f"machine baseline failed: {error!r}", file=sys.stderr)
    bar.update()

    current = {"group": None}

    def on_step(group: str, label: str) -> None:
        if current["group"] not in (None, group):
            bar.update()
        current["group"] = group
        bar.set_description(f"{group}: {label}" if label != "starting" else group)

    group_rows, status = run_groups(names, quick=args.quick, on_step=on_step)
    bar.update(bar.total - bar.n)
    bar.close()
    rows += group_rows
    seconds = time.perf_counter() - started

    print(format_table(rows, status, info, targets=True))
    for name, state in status.items():
        if state["status"] == "error":
            failed = True
            print(f"\n{name} raised:\n{state.get('traceback', state['reason'])}", file=sys.stderr)
    path = write_json(args.json, rows, status, info, args.quick, seconds)
    print(f"\nJSON: {path}", end="")
    if args.plot.lower() != "none":
        mode = "quick" if args.quick else "full"
        plot([row for row in rows if row.group != "servers"], args.plot,  # the servers get a plot of their own
             title=f"python -m bench ({mode}) on {describe(info)}")
        print(f"   plot: {args.plot}", end="")
        if any(row.group == "servers" for row in rows):  # the servers group's own, as the chapter shows it
            from bench import servers

            path = Path(args.plot).with_name(f"{Path(args.plot).stem}-servers.png")
            servers.plot([row for row in rows if row.group == "servers"], path,
                         title=f"Quart on each server ({mode}) on {describe(info)}")
            print(f", {path}", end="")
    print(f"   ({seconds:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
