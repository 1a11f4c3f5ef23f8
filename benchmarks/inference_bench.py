"""Inference benchmark, side by side: today's reference path and every new path, in one process and run.

Part 1, in-process, on the same lines for every path (the test split's LIVE-chat lines and comment
lines, in arrival order, batches of 64; synthetic LIVE-chat lines when no prepared data is found):
messages/s, ratio to the reference, p50/p99 per batch, the process's RSS after loading, and the F1 of
each path on the test split and its LIVE-chat slice. The reference is the 12-layer teacher on PyTorch
fp32 with the thread count `tegur serve` used before ONNX Runtime (CPUs - 1); the new paths are each
artifact's PyTorch fp32 and every variant its `export.json` validated, with all CPUs.

Part 2, HTTP: ``tegur serve`` in a subprocess for the reference and for the first new model (default
settings: precision auto), one message per request, p50/p99 at concurrency 1 and requests/s and p99
at concurrency 16.

Usage::

    python benchmarks/inference_bench.py --reference artifacts/default --models artifacts/student \\
        --out reports/inference_bench.json

Prints markdown tables and the CPU's ISA flags; writes every figure as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Runnable from a checkout without installing it: the repository root holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inference.hardware import ISA_FLAGS

# Synthetic LIVE-chat lines (no real users), 3-20 words: greetings, song requests, gift talk, and the
# kinds of messages Tegur flags, as people type them in Indonesian LIVE chat.
CHAT_LINES = [
    "hadir kak dari bandung",
    "salam dari surabaya kak, semangat live nya",
    "kak nyanyi lagu dewa 19 dong",
    "mantap suaranya merdu banget",
    "wkwk lucu banget kak",
    "kak spill skincare nya dong",
    "barusan join, ini lagi bahas apa ya kak?",
    "kak tolong sapa aku dong sekali aja",
    "semangat terus kak jangan lupa makan",
    "mau tanya kak itu baju beli dimana",
    "gift mawar buat kakak cantik",
    "kak aku udah follow, follback ya",
    "suaranya putus putus kak sinyalnya jelek",
    "kapan live lagi kak besok jam berapa",
    "lagu nya enak banget bikin galau",
    "kak aku lagi sakit, ibu juga dirawat, tolong bantu gift seikhlasnya",
    "belum makan dari kemarin kak, minta tolong sedikit saja buat beli nasi",
    "anak aku butuh biaya berobat, siapa pun yang baik hati tolong donasi",
    "kak kirimin koin dong buat bayar kontrakan, nanti aku doain",
    "yang mau penghasilan tambahan cek bio ya",
    "info lebih lanjut wa aku aja kak, nomor ada di profil",
    "gabung grup telegram kita, link di bio",
    "slot gacor hari ini maxwin, daftar lewat link di bio",
    "dm aku di ig kak ada promo khusus",
    "mau kenalan lebih jauh? chat aku di tele ya",
    "open bo kak, serius minat dm",
    "cari temen vcs malam ini, yang mau langsung dm",
    "kak cantik banget, mau jadi pacar aku gak, kirim foto dong",
    "muka kayak gitu kok berani live",
    "dasar jelek, mending tutup aja live nya",
    "suara kayak kaleng rombeng, bikin sakit telinga",
    "gendut banget sih kak, diet dulu sana",
    "udah miskin sok gaya lagi",
    "goblok banget jawabnya, gak nyambung",
    "ih norak banget outfit nya",
    "kak jangan dengerin haters, kamu keren",
    "hahaha admin nya lucu banget",
    "kak ini real pict atau filter sih",
    "ada yang dari jakarta selatan gak di sini",
    "kak minta tips biar percaya diri kalau live dong, aku suka grogi",
    "tadi aku nonton dari awal, seru banget ceritanya, lanjut part dua ya kak",
    "kak aku kirim paus ya tapi sapa aku pake nama lengkap",
    "pertama kali nonton langsung suka, kontennya positif banget",
    "kak ini jualan apa, harganya berapa, bisa cod gak",
    "cek dulu akun kedua aku kak, di sana lebih seru",
    "wah ramai banget live hari ini, sukses terus kak",
    "kak bales komen aku dong, udah dari tadi nunggu",
    "siapa yang nonton sambil makan mie, absen dulu",
    "ga usah sok suci deh lu, semua orang juga tau kelakuan lu",
    "kak tolong doain ujian aku besok ya, semoga lancar",
]

BATCH_SIZE = 64
CONCURRENCY = (1, 16)


def machine() -> dict[str, Any]:
    import torch

    from inference.hardware import cpu_info
    from inference.settings import available_cpus

    return {
        **cpu_info().describe(),
        "cpus_available": available_cpus(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def sample_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(CHAT_LINES) for _ in range(n)]


def resident_mb() -> float:
    from inference.api import resident_mb as rss

    return rss()


def bench_lines(data_dir: Path | None, n: int) -> tuple[dict[str, list[str]], list[Any]]:
    """LIVE-chat and comment lines of the test split (arrival order), and the test examples."""
    from data.dataset import read_split

    if data_dir is None or not (data_dir / "test.jsonl").is_file():
        return {"live_chat (synthetic)": sample_lines(n, seed=0)}, []
    test = read_split(data_dir, "test")
    live = [ex.text for ex in test if ex.surface.value == "live_chat"]
    comments = [ex.text for ex in test if ex.surface.value == "comment"]
    # The LIVE-chat slice is small: repeat it in order to fill n lines.
    live = (live * (n // max(1, len(live)) + 1))[:n] if live else sample_lines(n, seed=0)
    return {"live_chat": live, "comment": comments[:n]}, test


def f1_scores(predictor: Any, test: list[Any]) -> dict[str, Any]:
    """Macro and per-label F1 on the test split and on its LIVE-chat slice, at the artifact's thresholds."""
    import numpy as np

    from training.inputs import label_arrays
    from training.metrics import multilabel_report

    if not test:
        return {}
    probs = predictor.predict_proba([ex.text for ex in test])
    y, mask = label_arrays(test)
    cut = [predictor.thresholds[name] for name in predictor.labels]
    live = np.array([ex.surface.value == "live_chat" for ex in test])
    out = {}
    for name, rows in (("test", np.ones(len(test), bool)), ("live_chat", live)):
        report = multilabel_report(y[rows], probs[rows], cut, mask=mask[rows], label_names=predictor.labels)
        out[name] = {
            "macro_f1": round(report["macro"]["f1"], 4),
            **{label: round(row["f1"], 4) for label, row in report["labels"].items()},
        }
    return out


def run_path(predictor: Any, lines: dict[str, list[str]], min_seconds: float) -> dict[str, Any]:
    """messages/s and per-batch p50/p99 (ms) on each line set, batches of 64 in arrival order."""
    out: dict[str, Any] = {}
    for kind, texts in lines.items():
        predictor.predict_proba(texts[:BATCH_SIZE], batch_size=BATCH_SIZE)  # warm-up
        batch_ms: list[float] = []
        done, started = 0, time.perf_counter()
        while True:
            for start in range(0, len(texts), BATCH_SIZE):
                chunk = texts[start : start + BATCH_SIZE]
                t0 = time.perf_counter()
                predictor.predict_proba(chunk, batch_size=BATCH_SIZE)
                batch_ms.append((time.perf_counter() - t0) * 1000)
                done += len(chunk)
            if time.perf_counter() - started >= min_seconds:
                break
        ordered = sorted(batch_ms)
        out[kind] = {
            "messages_per_s": round(done / (time.perf_counter() - started), 1),
            "batch_p50_ms": round(ordered[len(ordered) // 2], 2),
            "batch_p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 2),
        }
    return out


def paths(reference: Path, models: list[Path], threads: int) -> list[dict[str, Any]]:
    """The reference path, then per model: PyTorch fp32 and each validated export variant."""
    from inference.artifact import load_metadata
    from inference.backends import load_manifest
    from inference.hardware import cpu_info

    out = [
        {
            "model": reference,
            "runtime": "torch",
            "precision": "fp32",
            "threads": max(1, threads - 1),
            "name": "reference: teacher, torch fp32, serve's old threads",
        }
    ]
    for model in models:
        out.append({"model": model, "runtime": "torch", "precision": "fp32", "threads": threads})
        manifest = load_manifest(model, load_metadata(model).model_version)
        for variant in manifest.usable(model, cpu_info()) if manifest is not None else []:
            out.append(
                {
                    "model": model,
                    "runtime": variant.runtime.value,
                    "precision": variant.precision.value,
                    "threads": threads,
                }
            )
    for path in out:
        path.setdefault("name", f"{Path(path['model']).name}, {path['runtime']} {path['precision']}")
    return out


def throughput(reference: Path, models: list[Path], lines, test, min_seconds: float, threads: int):
    """Every path on the same lines; each predictor is dropped before the next one loads."""
    import gc

    from inference.predictor import Predictor

    rows = []
    for path in paths(reference, models, threads):
        before = resident_mb()
        started = time.perf_counter()
        predictor = Predictor.from_artifact(
            path["model"], runtime=path["runtime"], precision=path["precision"], num_threads=path["threads"]
        )
        load_s = time.perf_counter() - started
        row = {
            "path": path["name"],
            "model": str(path["model"]),
            "runtime": predictor.runtime.value,
            "precision": predictor.precision.value,
            "threads": path["threads"],
            "load_s": round(load_s, 2),
            "rss_mb_after_load": round(resident_mb(), 0),
            "rss_mb_added": round(resident_mb() - before, 0),
            "lines": run_path(predictor, lines, min_seconds),
            "f1": f1_scores(predictor, test),
        }
        print(f"  {row['path']}: {json.dumps(row['lines'])}", file=sys.stderr, flush=True)
        rows.append(row)
        del predictor
        gc.collect()
    base = rows[0]["lines"]
    for row in rows:
        for kind, figures in row["lines"].items():
            figures["ratio"] = round(figures["messages_per_s"] / base[kind]["messages_per_s"], 2)
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    model_dir: Path, port: int, precision: str, runtime: str, threads: int | None, max_wait_ms: float | None
):
    import httpx

    tegur = shutil.which("tegur") or str(Path(sys.executable).parent / "tegur")
    env = dict(os.environ)
    if max_wait_ms is not None:
        env["TEGUR_BATCH_MAX_WAIT_MS"] = str(max_wait_ms)
    command = [tegur, "serve", "--model", str(model_dir), "--port", str(port), "--log-level", "warning"]
    command += ["--precision", precision, "--runtime", runtime]
    command += ["--threads", str(threads)] if threads is not None else []
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`{' '.join(command)}` exited with code {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the server did not become ready within 180 s")


class KeepAliveConnection:
    """A minimal HTTP/1.1 keep-alive client on one connection.

    The load generator shares the machine's cores with the server, so it must cost far less CPU per
    request than the server it measures; a general-purpose client (httpx: a few ms of CPU per request)
    would mostly measure itself. ``--client httpx`` uses httpx instead.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> KeepAliveConnection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()

    async def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("ascii")
        self.writer.write(head + body)
        status = int((await self.reader.readline()).split()[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("response without Content-Length; use --client httpx")
        return status, await self.reader.readexactly(length)


async def http_latency(port: int, concurrency: int, requests: int, seed: int, client: str) -> dict[str, Any]:
    """One message per request, ``concurrency`` clients in parallel; latency percentiles, req/s, and the
    mean number of messages per model call (how much the micro-batcher merged)."""
    import httpx

    texts = sample_lines(requests, seed=seed)
    path = "/v1/classify"
    latencies: list[float] = []
    next_index = 0

    def body(i: int, prefix: str = "") -> bytes:
        item = {"id": f"{prefix}{i}", "text": texts[i], "surface": "live_chat"}
        return json.dumps({"items": [item]}, ensure_ascii=False).encode()

    async with contextlib.AsyncExitStack() as stack:
        if client == "httpx":
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            session = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=30))

            async def send(_worker: int, payload: bytes) -> tuple[int, bytes]:
                headers = {"content-type": "application/json"}
                response = await session.post(
                    f"http://127.0.0.1:{port}{path}", content=payload, headers=headers
                )
                return response.status_code, response.content

        else:
            connections = [
                await stack.enter_async_context(KeepAliveConnection("127.0.0.1", port))
                for _ in range(concurrency)
            ]

            async def send(worker: int, payload: bytes) -> tuple[int, bytes]:
                return await connections[worker].post_json(path, payload)

        for i in range(min(20, requests)):  # warm-up: connections, allocator, first batches
            await send(i % concurrency, body(i, prefix="w"))
        before = batch_stats(port)

        async def worker(number: int) -> None:
            nonlocal next_index
            while next_index < requests:
                i = next_index
                next_index += 1
                payload = body(i)
                started = time.perf_counter()
                status, content = await send(number, payload)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"request {i}: HTTP {status}: {content[:200]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    after = batch_stats(port)
    calls = after[1] - before[1]
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {
        "concurrency": concurrency,
        "requests": requests,
        "client": client,
        "p50_ms": round(percentile(0.50), 2),
        "p99_ms": round(percentile(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "requests_per_s": round(requests / elapsed, 1),
        "mean_batch_items": round((after[0] - before[0]) / calls, 2) if calls else 0.0,
    }


def batch_stats(port: int) -> tuple[float, float]:
    """(sum, count) of tegur_model_batch_items from the server's /metrics."""
    import httpx

    values = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line.startswith(("tegur_model_batch_items_sum", "tegur_model_batch_items_count")):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values.get("tegur_model_batch_items_sum", 0.0), values.get("tegur_model_batch_items_count", 0.0)


def markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    flags = ", ".join(f"{flag} {'yes' if info[flag] else 'no'}" for flag in ISA_FLAGS)
    lines = [f"Machine: {info['model']}, {info['cpus_available']} CPUs; {flags}", ""]
    kinds = list(results["throughput"][0]["lines"])
    head = " | ".join(f"{k} msg/s (x ref) | {k} batch p50/p99 ms" for k in kinds)
    lines += [
        f"| path | threads | load s | RSS MB | {head} | test macro-F1 | LIVE-chat macro-F1 |",
        "|---|---:|---:|---:|" + "---:|---:|" * len(kinds) + "---:|---:|",
    ]
    for row in results["throughput"]:
        cells = " | ".join(
            f"{row['lines'][k]['messages_per_s']:,.0f} ({row['lines'][k]['ratio']:.1f}x) | "
            f"{row['lines'][k]['batch_p50_ms']:.0f} / {row['lines'][k]['batch_p99_ms']:.0f}"
            for k in kinds
        )
        f1 = row["f1"] or {}
        test_f1 = f1.get("test", {}).get("macro_f1", float("nan"))
        live_f1 = f1.get("live_chat", {}).get("macro_f1", float("nan"))
        lines.append(
            f"| {row['path']} ({row['runtime']} {row['precision']}) | {row['threads']} | {row['load_s']:.2f} "
            f"| {row['rss_mb_added']:.0f} | {cells} | {test_f1:.3f} | {live_f1:.3f} |"
        )
    if results["http"]:
        lines += [
            "",
            "| HTTP, 1 message/request | concurrency | p50 ms | p99 ms | requests/s | messages/model call |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in results["http"]:
            lines.append(
                f"| {row['server']} | {row['concurrency']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{row['requests_per_s']:,.0f} | {row['mean_batch_items']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="The 12-layer teacher artifact.")
    parser.add_argument("--models", default="", help="Comma-separated new artifacts (e.g. the student).")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="Prepared data (default: the reference's)."
    )
    parser.add_argument("--lines", type=int, default=2048, help="Lines per kind (LIVE chat, comments).")
    parser.add_argument("--out", type=Path, default=None, help="Write the results as JSON here.")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="Time per throughput measurement.")
    parser.add_argument("--threads", type=int, default=None, help="CPUs to use (default: all available).")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="Comma-separated.")
    parser.add_argument("--requests", type=int, default=500, help="HTTP requests per concurrency level.")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="TEGUR_BATCH_MAX_WAIT_MS.")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="HTTP load generator.")
    parser.add_argument("--skip-http", action="store_true", help="Only the in-process part.")
    parser.add_argument("--skip-f1", action="store_true", help="Do not score the test split.")
    args = parser.parse_args()

    from inference.artifact import load_metadata
    from inference.settings import available_cpus

    meta = load_metadata(args.reference)
    models = [Path(m) for m in args.models.split(",") if m]
    threads = args.threads or available_cpus()
    data_dir = args.data_dir or (Path(meta.data.dir) if meta.data is not None else None)
    lines, test = bench_lines(data_dir, args.lines)
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "lines": {kind: len(texts) for kind, texts in lines.items()},
        "throughput": throughput(
            args.reference, models, lines, [] if args.skip_f1 else test, args.min_seconds, threads
        ),
        "http": [],
    }
    if not args.skip_http:
        servers = [
            ("reference (torch fp32, old threads)", args.reference, "fp32", "torch", max(1, threads - 1))
        ]
        servers += [(f"{models[0].name} (defaults)", models[0], "auto", "auto", None)] if models else []
        for name, model_dir, precision, runtime, server_threads in servers:
            port = free_port()
            server = start_server(model_dir, port, precision, runtime, server_threads, args.max_wait_ms)
            try:
                for concurrency in [int(c) for c in args.concurrency.split(",") if c]:
                    row = asyncio.run(
                        http_latency(port, concurrency, args.requests, concurrency, args.client)
                    )
                    results["http"].append({"server": name, "max_wait_ms": args.max_wait_ms, **row})
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(markdown(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
