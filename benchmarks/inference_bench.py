"""Inference benchmark: batch throughput in-process, and single-message latency over HTTP.

Measures, on this machine:

(a) throughput (messages/s) of ``Predictor.predict_proba`` on realistic LIVE-chat lines (3-20 words,
    sampled with replacement from the synthetic lines below) at several batch sizes and precisions;
(b) latency of ``POST /v1/classify`` with one message per request, p50/p99 and achieved requests/s,
    at concurrency 1 and 16, against ``tegur serve`` started in a subprocess on a free port (so the
    micro-batcher, the JSON handling and the HTTP stack are all included).

Usage::

    python benchmarks/inference_bench.py --model artifacts/default --out reports/inference_bench.json

Prints a markdown table; writes every figure and the machine description as JSON to ``--out``.
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

BATCH_SIZES = (1, 16, 64, 256)
# int8 is refused by the predictor (it cost 15 macro-F1 points; see inference/predictor.py).
PRECISIONS = ("fp32", "bf16")
CONCURRENCY = (1, 16)


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    from inference.settings import available_cpus

    return {
        "cpu": cpu,
        "cpus_available": available_cpus(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def sample_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(CHAT_LINES) for _ in range(n)]


def throughput(
    model_dir: Path, precisions: list[str], batch_sizes: list[int], min_seconds: float, threads: int
):
    """Messages per second of predict_proba, per precision and batch size."""
    from inference.predictor import Predictor

    rows = []
    for precision in precisions:
        try:
            predictor = Predictor.from_artifact(model_dir, precision=precision, num_threads=threads)
        except Exception as exc:  # e.g. a precision this CPU cannot run: report it, go on
            rows.append({"precision": precision, "error": str(exc)})
            continue
        predictor.predict_proba(sample_lines(64, seed=0), batch_size=64)  # warm-up
        for batch_size in batch_sizes:
            texts = sample_lines(max(batch_size * 4, 256), seed=batch_size)
            done = 0
            started = time.perf_counter()
            while True:
                for start in range(0, len(texts), batch_size):
                    predictor.predict_proba(texts[start : start + batch_size], batch_size=batch_size)
                done += len(texts)
                elapsed = time.perf_counter() - started
                if elapsed >= min_seconds:
                    break
            rows.append(
                {
                    "precision": precision,
                    "batch_size": batch_size,
                    "messages": done,
                    "seconds": round(elapsed, 3),
                    "messages_per_s": round(done / elapsed, 1),
                }
            )
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, port: int, precision: str, threads: int, max_wait_ms: float | None):
    import httpx

    tegur = shutil.which("tegur") or str(Path(sys.executable).parent / "tegur")
    env = dict(os.environ)
    if max_wait_ms is not None:
        env["TEGUR_BATCH_MAX_WAIT_MS"] = str(max_wait_ms)
    command = [tegur, "serve", "--model", str(model_dir), "--port", str(port), "--log-level", "warning"]
    command += ["--precision", precision, "--threads", str(threads)]
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
    lines = [
        f"Machine: {info['cpu']}, {info['cpus_available']} CPUs available, torch {info['torch']}, "
        f"{results['threads']} threads; model {results['model']['name']} {results['model']['version']}",
        "",
    ]
    lines += ["| precision | batch size | messages/s |", "|---|---:|---:|"]
    for row in results["throughput"]:
        if "error" in row:
            lines.append(f"| {row['precision']} | - | error: {row['error']} |")
        else:
            lines.append(f"| {row['precision']} | {row['batch_size']} | {row['messages_per_s']:,.0f} |")
    if results["http"]:
        lines += [
            "",
            "| HTTP, 1 message/request | p50 ms | p99 ms | requests/s | mean messages per model call |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in results["http"]:
            lines.append(
                f"| concurrency {row['concurrency']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
                f"{row['requests_per_s']:,.0f} | {row['mean_batch_items']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="Artifact folder to benchmark.")
    parser.add_argument("--out", type=Path, default=None, help="Write the results as JSON here.")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="Comma-separated, of fp32,bf16.")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)), help="Comma-separated.")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="Time per throughput measurement.")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Torch threads, in-process and served (default: as `tegur serve`).",
    )
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="Comma-separated.")
    parser.add_argument("--requests", type=int, default=500, help="HTTP requests per concurrency level.")
    parser.add_argument("--http-precision", default="fp32", help="Precision of the served model.")
    parser.add_argument(
        "--max-wait-ms", type=float, default=2.0, help="Micro-batcher wait (TEGUR_BATCH_MAX_WAIT_MS)."
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP load generator (raw: minimal keep-alive).",
    )
    parser.add_argument("--skip-http", action="store_true", help="Only the in-process throughput.")
    args = parser.parse_args()

    from inference.artifact import load_metadata
    from inference.settings import default_threads

    metadata = load_metadata(args.model)
    threads = args.threads or default_threads()
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "model": {"dir": str(args.model), "name": metadata.name, "version": metadata.model_version},
        "threads": threads,
        "machine": machine(),
        "throughput": throughput(
            args.model,
            [p for p in args.precisions.split(",") if p],
            [int(b) for b in args.batch_sizes.split(",") if b],
            args.min_seconds,
            threads,
        ),
        "http": [],
    }
    if not args.skip_http:
        from inference.settings import load_settings

        max_wait_ms = args.max_wait_ms if args.max_wait_ms is not None else load_settings().batch_max_wait_ms
        port = free_port()
        server = start_server(args.model, port, args.http_precision, threads, args.max_wait_ms)
        try:
            for concurrency in [int(c) for c in args.concurrency.split(",") if c]:
                row = asyncio.run(http_latency(port, concurrency, args.requests, concurrency, args.client))
                row["precision"] = args.http_precision
                row["max_wait_ms"] = max_wait_ms
                results["http"].append(row)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(markdown(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
