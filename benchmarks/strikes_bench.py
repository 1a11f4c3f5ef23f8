"""Strike engine benchmark: sustained violation events per second into SQLite and PostgreSQL.

Each run ingests ``--events`` violation events spread over ``--accounts`` accounts through
``StrikeService.record_violation`` (lock the account, read its ledger, replay it, append, commit),
with 1 writer process and with ``--writers`` concurrent writer processes. Events are dealt to the
writers round-robin, so concurrent writers contend for the same accounts as real traffic would.
Every run starts on an empty, freshly migrated database (a SQLite file in a temporary folder, a
throwaway PostgreSQL schema), and checks afterwards that every event was recorded exactly once.

Usage::

    python benchmarks/strikes_bench.py                       # both backends, 1 and 4 writers
    python benchmarks/strikes_bench.py --backends sqlite --events 5000 --out reports/strikes_bench.json

PostgreSQL comes from ``--postgres-url`` (default: TEGUR_TEST_POSTGRES_URL or the local test server).
Prints a markdown table; ``--out`` also writes the figures and the machine description as JSON.
The default settings finish in well under a minute on an idle two-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Runnable from a checkout without installing it: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strikes.domain import EventSource, Feature, Policy, ViolationEvent
from strikes.policy import StrikePolicy, load_strike_policy
from strikes.storage import StrikeStore
from strikes.testing import parallel_ingest, postgres_test_url, process_pool, temporary_database

REPO = Path(__file__).resolve().parent.parent
# Roughly what a classifier sends: mostly spam-like redirection and pity bait, some bullying.
POLICY_MIX = {
    Policy.OFF_PLATFORM_REDIRECTION: 0.4,
    Policy.PITY_BAIT: 0.3,
    Policy.BULLYING: 0.2,
    Policy.SEXUAL_SOLICITATION: 0.1,
}


def make_events(count: int, accounts: int, seed: int) -> list[ViolationEvent]:
    """``count`` events over ``accounts`` accounts, in time order, one minute apart."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(minutes=count + 1)
    policies, weights = zip(*POLICY_MIX.items(), strict=True)
    return [
        ViolationEvent(
            account_id=f"bench-{rng.randrange(accounts)}",
            policy=rng.choices(policies, weights)[0],
            feature=Feature.LIVE if rng.random() < 0.6 else Feature.COMMENT,
            content_id=f"msg-{i}",
            occurred_at=start + timedelta(minutes=i),
            source=EventSource.CLASSIFIER,
            evidence={"score": round(rng.uniform(0.8, 1.0), 3)},
            actor="bench",
        )
        for i in range(count)
    ]


def run_one(
    backend: str, writers: int, events: list[ViolationEvent], policy: StrikePolicy, pool: Any
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, temporary_database(backend, Path(folder)) as url:
        store = StrikeStore(url)
        try:
            store.migrate()
            batches = [events[w::writers] for w in range(writers)]
            results, seconds = parallel_ingest(url, policy, batches, pool=pool)
            stored = store.count_violations()
        finally:
            store.close()
    kinds = Counter(kind for result in results for kind, _ in result)
    if stored != len(events) or kinds["duplicate"]:
        raise SystemExit(f"{backend} x{writers}: stored {stored} of {len(events)} events ({dict(kinds)})")
    return {
        "backend": backend,
        "writers": writers,
        "events": len(events),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(events) / seconds, 1),
        "decisions": dict(sorted(kinds.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="Events per run (default 1000).")
    parser.add_argument("--accounts", type=int, default=100, help="Accounts they are spread over.")
    parser.add_argument("--writers", type=int, default=4, help="Concurrent writer processes (default 4).")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite,postgresql.")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL server (default: the test server).")
    parser.add_argument("--policy", type=Path, default=REPO / "configs" / "strikes.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Also write the results as JSON here.")
    args = parser.parse_args()
    if args.postgres_url:
        os.environ["TEGUR_TEST_POSTGRES_URL"] = args.postgres_url

    policy = load_strike_policy(args.policy)
    events = make_events(args.events, args.accounts, args.seed)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    writer_counts = sorted({1, args.writers})
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "postgres": postgres_test_url() if "postgresql" in backends else None,
    }
    rows = []
    with process_pool(max(writer_counts)) as pool:
        for backend in backends:
            for writers in writer_counts:
                row = run_one(backend, writers, events, policy, pool)
                rows.append(row)
                print(
                    f"{backend:<10} {writers} writer(s): {row['events_per_s']:>8.1f} events/s",
                    file=sys.stderr,
                )

    print(f"\nStrike ingestion, {args.events} events over {args.accounts} accounts ({machine['cpus']} CPUs, "
          f"load average {machine['load_average_at_start'][0]} at start)\n")  # fmt: skip
    print("| backend | writers | events | seconds | events/s |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        cells = [
            row["backend"],
            row["writers"],
            row["events"],
            f"{row['seconds']:.2f}",
            f"{row['events_per_s']:.1f}",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    decisions = rows[0]["decisions"] if rows else {}
    print(f"\nDecisions per run: {decisions}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
