"""Strike engine benchmark: per-event latency against history size, and sustained events per second.

**Latency.** One account is grown to 10, 100, 1,000 and 10,000 prior events (a moderator violation
every 30 days on a fake clock, so the account collects strikes and restrictions without being
banned); at each size ``--latency-events`` more events are timed one by one through
``StrikeService.record_violation`` (lock the account, read its snapshot, decide, append, store the
decision, its penalties, notices and the new snapshot, commit). p50 and p99 per size.

**Throughput.** ``--events`` classifier events spread over ``--accounts`` accounts, with 1 writer
process and with ``--writers`` concurrent writer processes. Events are dealt to the writers
round-robin, so concurrent writers contend for the same accounts as real traffic would. Every run
starts on an empty, freshly migrated database (a SQLite file in a temporary folder, a throwaway
PostgreSQL schema), and checks afterwards that every event was recorded exactly once and that every
account's snapshot equals a full replay of its ledger (``StrikeService.verify``).

Usage::

    python benchmarks/strikes_bench.py                       # both backends
    python benchmarks/strikes_bench.py --backends sqlite --sizes 10,100 --out reports/strikes_bench.json

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
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Runnable from a checkout without installing it: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from strikes.domain import EventSource, Feature, Policy, ViolationEvent
from strikes.policy import StrikePolicy, load_strike_policy
from strikes.service import StrikeService
from strikes.storage import StrikeStore
from strikes.testing import Clock, parallel_ingest, postgres_test_url, process_pool, temporary_database

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


def latency(backend: str, policy: StrikePolicy, sizes: list[int], measured: int) -> list[dict[str, Any]]:
    """p50/p99 of one ``record_violation`` on accounts with each of ``sizes`` prior events.

    One account per size, grown side by side (every account gets its next event in the same 30-day
    step, so all end in the same recent state); the timed events then go round-robin to the accounts,
    so a load spike on the shared machine hits every size alike.
    """
    policies = [
        Policy.BULLYING,
        Policy.PITY_BAIT,
        Policy.OFF_PLATFORM_REDIRECTION,
        Policy.SEXUAL_SOLICITATION,
    ]
    clock = Clock(datetime(2000, 1, 1, tzinfo=UTC))
    counts = dict.fromkeys(sizes, 0)
    timings: dict[int, list[float]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as folder, temporary_database(backend, Path(folder)) as url:
        store = StrikeStore(url)
        store.migrate()
        service = StrikeService(store, policy, clock=clock)

        def record(size: int) -> float:
            n = counts[size]
            event = ViolationEvent(
                account_id=f"history-{size}",
                policy=policies[n % len(policies)],
                feature=Feature.COMMENT if n % 3 else Feature.LIVE,
                content_id=f"msg-{n}",
                occurred_at=None,
                source=EventSource.MODERATOR,
                actor="bench",
            )
            started = time.perf_counter()
            service.record_violation(event)
            counts[size] = n + 1
            return time.perf_counter() - started

        try:
            biggest = max(sizes)
            for step in range(biggest):
                clock.advance(days=30)
                for size in sizes:
                    if step >= biggest - size:  # every account's last prior event lands in the same step
                        record(size)
            print(f"{backend:<10} accounts grown to {sizes} prior events", file=sys.stderr)
            for _ in range(measured):
                clock.advance(days=30)
                for size in sizes:
                    timings[size].append(record(size))
            _, problems = service.verify()
            if problems:
                raise SystemExit(f"{backend}: snapshot differs from the replay: {problems[:3]}")
        finally:
            service.close()
    rows = []
    for size in sizes:
        ordered = sorted(timings[size])
        rows.append(
            {
                "backend": backend,
                "prior_events": size,
                "measured": measured,
                "p50_ms": round(statistics.median(ordered) * 1000, 2),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
            }
        )
        print(f"{backend:<10} {size:>6} prior events: p50 {rows[-1]['p50_ms']} ms", file=sys.stderr)
    return rows


def run_one(
    backend: str, writers: int, events: list[ViolationEvent], policy: StrikePolicy, pool: Any, batch: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, temporary_database(backend, Path(folder)) as url:
        store = StrikeStore(url)
        try:
            store.migrate()
            batches = [events[w::writers] for w in range(writers)]
            results, seconds = parallel_ingest(url, policy, batches, pool=pool, batch=batch)
            stored = store.count_violations()
            _, problems = StrikeService(store, policy).verify()
        finally:
            store.close()
    if problems:
        raise SystemExit(
            f"{backend} x{writers}: {len(problems)} snapshots differ from the replay: {problems[:3]}"
        )
    kinds = Counter(kind for result in results for kind, _ in result)
    if stored != len(events) or kinds["duplicate"]:
        raise SystemExit(f"{backend} x{writers}: stored {stored} of {len(events)} events ({dict(kinds)})")
    return {
        "backend": backend,
        "writers": writers,
        "batch": batch,
        "events": len(events),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(events) / seconds, 1),
        "decisions": dict(sorted(kinds.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000, help="Events per throughput run (default 4000).")
    parser.add_argument("--accounts", type=int, default=1000, help="Accounts they are spread over.")
    parser.add_argument("--sizes", default="10,100,1000,10000", help="Prior events for the latency runs.")
    parser.add_argument("--latency-events", type=int, default=200, help="Timed events per size.")
    parser.add_argument(
        "--batches", default="1,50", help="Events per transaction in the throughput runs (1: one each)."
    )
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
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    latencies = [row for backend in backends for row in latency(backend, policy, sizes, args.latency_events)]
    rows = []
    with process_pool(max(writer_counts)) as pool:
        for backend in backends:
            for batch in [int(x) for x in args.batches.split(",") if x.strip()]:
                for writers in writer_counts:
                    row = run_one(backend, writers, events, policy, pool, batch)
                    rows.append(row)
                    print(
                        f"{backend:<10} {writers} writer(s), {batch}/txn: "
                        f"{row['events_per_s']:>8.1f} events/s",
                        file=sys.stderr,
                    )

    print(f"\nPer-event latency of record_violation against the account's history ({args.latency_events} "
          "timed events per size)\n")  # fmt: skip
    print("| backend | prior events | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for row in latencies:
        print(f"| {row['backend']} | {row['prior_events']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    print(f"\nStrike ingestion, {args.events} events over {args.accounts} accounts ({machine['cpus']} CPUs, "
          f"load average {machine['load_average_at_start'][0]} at start)\n")  # fmt: skip
    print("| backend | writers | events per transaction | events | seconds | events/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [
            row["backend"],
            row["writers"],
            row["batch"],
            row["events"],
            f"{row['seconds']:.2f}",
            f"{row['events_per_s']:.1f}",
        ]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    decisions = rows[0]["decisions"] if rows else {}
    print(f"\nDecisions per run: {decisions}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"machine": machine, "latency": latencies, "runs": rows}, indent=2) + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
