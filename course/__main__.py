"""``python -m course setup`` makes what the notebooks need (TLS files, a sample video);
``python -m course doctor`` checks that this machine can run the course."""

from __future__ import annotations

import sys


def doctor() -> int:
    from ._doctor import main

    return main()


def setup() -> None:
    from ._setup import setup

    setup()


COMMANDS = {"setup": setup, "doctor": doctor}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: python -m course {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]]() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
