"""``python -m bench [--quick] [--only kit,protocols] [--json PATH] [--plot PATH]``

Measures the machine's baseline first (cores, memory, CPU, versions, a sequential
file write and read, a raw loopback copy), then runs the groups in order (kit,
uploads, downloads, protocols, concurrency), and prints one table with every
figure's ratio to its limit: the machine's own (file write or read, raw asyncio
responder) or, where the "vs" column says so, another run (HTTP/1.1, h2load, the
delay). The same goes to JSON and a PNG plot of the machine-limit ratios (both
under ``bench/results/``, git-ignored, unless told otherwise).

A group whose module is missing shows as "not available"; a group that raises
shows as "error", the others still run, and the exit code is 1.
Quick mode (a minute or so) is for smoke tests and notebook 15; the full mode
(several minutes, 1 GiB files) is what the README's table comes from.
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
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (about a minute)")
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

    print(format_table(rows, status, info))
    for name, state in status.items():
        if state["status"] == "error":
            failed = True
            print(f"\n{name} raised:\n{state.get('traceback', state['reason'])}", file=sys.stderr)
    path = write_json(args.json, rows, status, info, args.quick, seconds)
    print(f"\nJSON: {path}", end="")
    if args.plot.lower() != "none":
        mode = "quick" if args.quick else "full"
        plot(rows, args.plot, title=f"python -m bench ({mode}) on {describe(info)}")
        print(f"   plot: {args.plot}", end="")
    print(f"   ({seconds:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
