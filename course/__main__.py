"""``python -m course setup``: make what the first run needs (TLS files, sample media)."""

from __future__ import annotations

import sys


def setup() -> None:
    from ._certs import make_certs

    print("certificates:", make_certs())


COMMANDS = {"setup": setup}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: python -m course {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    COMMANDS[argv[0]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
