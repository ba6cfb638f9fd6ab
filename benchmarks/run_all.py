"""Run every ``benchmarks/bench_*.py`` (each has ``main() -> Path``) and list the result files.

Usage: ``python -m benchmarks.run_all [name ...]`` (names without the ``bench_`` prefix).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    unknown = wanted - {n.removeprefix("bench_") for n in names}
    if unknown:
        print(f"unknown benchmarks {sorted(unknown)}; available: {[n.removeprefix('bench_') for n in names]}")
        return 2
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name}")
        path = importlib.import_module(f"benchmarks.{name}").main()
        print(Path(path).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
