"""Print the score of the last `make mutation` run from mutmut's CI/CD stats: killed / total."""

from __future__ import annotations

import json
from pathlib import Path

STATS = Path("mutants/mutmut-cicd-stats.json")


def main() -> None:
    stats: dict[str, int] = json.loads(STATS.read_text(encoding="utf-8"))
    killed, total = stats["killed"], stats["total"]
    others = ", ".join(
        f"{name.replace('_', ' ')} {stats[name]}"
        for name in ("survived", "timeout", "suspicious", "no_tests", "skipped", "segfault")
    )
    print(f"mutation score: {killed} killed / {total} total ({killed / max(total, 1):.1%}); {others}")


if __name__ == "__main__":
    main()
