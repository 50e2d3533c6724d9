"""``python -m course setup`` makes what the first run needs (TLS files, sample media);
``python -m course doctor`` checks that this machine can run the course."""

from __future__ import annotations

import sys


def setup() -> None:
    from apps.video import make_sample_media

    from ._certs import make_certs

    print("certificates:", make_certs())
    print("sample media:", make_sample_media())


def doctor() -> int:
    from ._doctor import main

    return main()


COMMANDS = {"setup": setup, "doctor": doctor}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: python -m course {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]]() or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
