"""Summarises a py-spy `--format raw` (collapsed stacks) file: the share of samples in
which each function appears (inclusive), for the functions that matter.

    python -m bench.profile_summary profile.raw [--top 25] [--filter rasa,extensions]
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from typing import List, Tuple

_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+):?\d*\)$")


def inclusive_shares(lines: List[str]) -> Tuple[Counter, int]:
    counts: Counter = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        seen = set()
        for frame in stack.split(";"):
            match = _FRAME.match(frame.strip())
            name = frame.strip()
            if match:
                path = match.group("file")
                short = path.split("site-packages/")[-1]
                name = f"{match.group('func')} ({short})"
            if name not in seen:
                seen.add(name)
                counts[name] += int(count)
    return counts, total


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("raw")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    counts, total = inclusive_shares(open(args.raw).read().splitlines())
    keep = [f for f in args.filter.split(",") if f]
    rows = [(name, n) for name, n in counts.most_common() if not keep or any(k in name for k in keep)]
    print(f"{total} samples")
    for name, n in rows[: args.top]:
        print(f"{100 * n / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
