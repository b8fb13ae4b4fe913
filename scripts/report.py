"""Turn a run or sweep directory into report.html (self-contained) and report.md.

python scripts/report.py outputs/DATE/TIME
python scripts/report.py multirun/DATE/TIME --columns 3

A sweep of microscope jobs (split by layer or channel range) also gets one site of all their units.
"""

import argparse
import sys
from pathlib import Path

from convis.reporting.atlas import PAGE
from convis.reporting.report import write
from convis.runtime.errors import ConvisError
from convis.units.parts import merge, parts_below


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a run directory or a multirun sweep directory")
    parser.add_argument("--columns", type=int, default=None, help="wrap a grid of one swept key after N pictures")
    args = parser.parse_args(argv)
    try:
        html, markdown = write(args.directory, args.columns)
        site = merge(args.directory) if parts_below(args.directory) else None
    except (ConvisError, OSError) as err:  # no runs, a full disk, a folder it may not write in
        print(f"convis: error: {err}", file=sys.stderr)
        return 2
    print(f"report: {html}\nmarkdown: {markdown}")
    if (atlas := html.with_name(PAGE)).is_file():
        print(f"layer atlas: {atlas}")
    if site is not None:
        print(f"microscope: {site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
