"""Streaming: packaging speed, ABR decision latency, simulator throughput, the QoE tables,
and segment serving under 200 concurrent players.

1. Packaging: a 60 s generated stereo track packaged into the default ladder (Opus
   32/64/96/160, AAC-LC 64/128/256, 6 s fMP4 segments): seconds of audio per second of
   wall time for the whole ladder, per core (the work is one process, one thread).
2. ABR decisions: mean time per ``choose`` for each algorithm on the video ladder with a
   5-segment history (target: < 50 us per decision in Python).
3. Simulator: decisions per second over the 142 HSDPA test traces, and the QoE tables: the
   published video setting (QoE_lin; published ordering from a port of Pensieve's
   simulator: MPC 0.883 > BOLA 0.845 > throughput 0.724 > buffer 0.626 on HSDPA) and the
   audio ladder with the audio QoE at three trace scales.
4. Serving: ``backbeat serve --workers 2`` on loopback with one packaged track; 200
   concurrent players (closed loop, keep-alive, another process) each fetching the media
   playlist's segments in turn for 10 s: segments per second and latency percentiles.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_table

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT.parent / "shared" / "data" / "abr-traces"
PLAYERS = 200
SECONDS = 10.0


def _track(seconds: float = 60.0) -> bytes:
    rng = np.random.default_rng(7)
    rate = 44100
    t = np.arange(int(rate * seconds)) / rate
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.standard_normal(len(t)) * 0.6
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)
    stereo = np.stack([beat + tone, 0.8 * beat + tone], 1).astype(np.float32) * 0.5
    buffer = io.BytesIO()
    sf.write(buffer, stereo, rate, format="WAV")
    return buffer.getvalue()


def packaging() -> None:
    from backbeat.streaming import package

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "track.wav"
        source.write_bytes(_track())
        started = time.perf_counter()
        result = package(source, Path(tmp) / "out")
        seconds = time.perf_counter() - started
    rows = [
        [r["name"], r["nominal_kbps"], r["measured_kbps"], r["peak_kbps"], r["segments"]]
        for r in result.renditions
    ]
    print_table(
        f"Packaging 60 s into {len(rows)} renditions: {seconds:.2f} s, "
        f"{60 / seconds:.1f}x real time for the whole ladder on one core",
        ["rendition", "nominal kbps", "measured kbps", "peak kbps", "segments"],
        rows,
    )


def decisions() -> None:
    from backbeat.streaming import (
        AbrState,
        Bola,
        BufferBased,
        Dynamic,
        FastMpc,
        RobustMpc,
        ThroughputRule,
    )

    ladder = (300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0)
    rows = []
    fast = FastMpc()
    started = time.perf_counter()
    fast.choose(AbrState(ladder_kbps=ladder, segment_s=4.0, buffer_s=0, throughputs_kbps=[1000]))
    print(f"FastMPC table for the video ladder built in {time.perf_counter() - started:.1f} s")
    for algorithm in (ThroughputRule(), BufferBased(), Bola(), Dynamic(), RobustMpc(), fast):
        state = AbrState(
            ladder_kbps=ladder,
            segment_s=4.0,
            buffer_s=12.0,
            last_rung=2,
            throughputs_kbps=[1800, 2100, 900, 1500, 1700],
            latencies_s=[0.08] * 5,
        )
        n = 2000 if algorithm.name != "mpc" else 300
        started = time.perf_counter()
        for i in range(n):
            state.buffer_s = 5 + (i % 20)
            algorithm.choose(state)
        per = (time.perf_counter() - started) / n * 1e6
        verdict = "met" if per < 50 else "MISSED"
        rows.append([algorithm.name, f"{per:.1f}", verdict])
    print_table(
        "ABR decision latency (video ladder, 5-segment history; target < 50 us)",
        ["algorithm", "us per decision", "target"],
        rows,
    )


def simulations() -> None:
    from backbeat.streaming import (
        Bola,
        BufferBased,
        Dynamic,
        FastMpc,
        RobustMpc,
        ThroughputRule,
        load_traces,
        simulate,
    )

    traces = load_traces(TRACES / "test")
    published = {
        "throughput": 0.724,
        "buffer": 0.626,
        "bola": 0.845,
        "mpc": 0.883,
        "fastmpc": 0.883,
    }
    rows = []
    for name, algorithm in (
        ("throughput", ThroughputRule(safety=1.0)),
        ("buffer", BufferBased()),
        ("bola", Bola(variant="BASIC")),
        ("mpc", RobustMpc()),
        ("fastmpc", FastMpc()),
    ):
        started = time.perf_counter()
        result = simulate(traces, algorithm)
        seconds = time.perf_counter() - started
        s = result.summary
        rate = len(traces) * 47 / seconds
        rows.append(
            [
                name,
                f"{s['qoe_lin']:.3f}",
                published[name],
                f"{s['bitrate_kbps']:.0f}",
                f"{s['rebuffer_ratio']:.4f}",
                f"{rate:,.0f}",
            ]
        )
    print_table(
        "Video setting on 142 HSDPA traces (6 rungs, 4 s, 48 segments, QoE_lin per segment)",
        ["algorithm", "QoE_lin", "published port", "kbps", "rebuffer", "decisions/s"],
        rows,
    )
    audio = []
    for scale in (1.0, 0.1, 0.05):
        for name, algorithm in (
            ("throughput", ThroughputRule()),
            ("buffer", BufferBased()),
            ("bola", Bola()),
            ("dynamic", Dynamic()),
            ("mpc", RobustMpc(codec="opus")),
        ):
            s = simulate(
                traces,
                algorithm,
                ladder_kbps=(32, 64, 96, 160),
                segment_s=4.0,
                scale=scale,
                codec="opus",
                start_rung=0,
            ).summary
            audio.append(
                [
                    f"x{scale:g}",
                    name,
                    f"{s['qoe_audio']:.3f}",
                    f"{s['bitrate_kbps']:.0f}",
                    f"{s['rebuffer_ratio']:.4f}",
                    f"{s['switches_per_min']:.2f}",
                ]
            )
    print_table(
        "Audio ladder (Opus 32/64/96/160, 4 s) on HSDPA scaled, audio QoE",
        ["scale", "algorithm", "QoE audio", "kbps", "rebuffer", "switches/min"],
        audio,
    )


async def _players(port: int, paths: list[str], key: str) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + SECONDS

    async def player(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index
        try:
            while time.perf_counter() < stop:
                path = paths[i % len(paths)]
                i += 1
                began = time.perf_counter()
                request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n"
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(player(i) for i in range(PLAYERS)))
    elapsed = time.perf_counter() - began
    p50, p95, p99 = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
    return {"rps": len(latencies) / elapsed, "p50": p50, "p95": p95, "p99": p99, "errors": errors}


def serving() -> None:
    backbeat = str(Path(sys.executable).with_name("backbeat"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "BACKBEAT_DATA_DIR": tmp,
            "BACKBEAT_RATE_LIMIT_READ": "1000000/s",
            "BACKBEAT_RATE_LIMIT_WRITE": "1000000/s",
            "BACKBEAT_LOG_LEVEL": "WARNING",
            "BACKBEAT_STREAM_LADDER": "opus:96",
        }
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        created = subprocess.run(
            [backbeat, "apikey", "create", "--name", "bench", "--scopes", "read,write"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        port = 8750
        serve = subprocess.Popen(
            [backbeat, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            import httpx2 as httpx

            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code < 600:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not start")
            track = "4uLU6hMCjMI75M1A2tKUQC"
            meta = {
                "id": track,
                "name": "T",
                "artists": [{"id": "0OdUWJ0sBjDrqHygGUXeCF", "name": "A"}],
            }
            httpx.post(
                f"{base}/v1/tracks",
                headers=headers,
                data={"metadata": json.dumps(meta)},
                files={"audio": ("t.wav", _track(), "audio/wav")},
                timeout=60,
            ).raise_for_status()
            playlist = f"{base}/v1/tracks/{track}/stream/opus_96/index.m3u8"
            while True:
                got = httpx.get(playlist, headers=headers, timeout=5)
                if got.status_code == 200:
                    break
                time.sleep(0.5)
                if time.monotonic() > deadline + 120:
                    raise SystemExit("the track was not packaged")
            paths = [
                f"/v1/tracks/{track}/stream/opus_96/{line}"
                for line in got.text.splitlines()
                if line.endswith(".m4s")
            ]
            run = subprocess.run(
                [sys.executable, __file__, "--players", str(port), key],
                input=json.dumps(paths),
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(run.stdout)
        finally:
            serve.terminate()
            serve.wait(timeout=15)
    print_table(
        f"Segment serving: {PLAYERS} concurrent players, serve --workers 2, loopback, "
        f"{SECONDS:g} s",
        ["segments/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [
            [
                f"{result['rps']:.0f}",
                f"{result['p50']:.1f}",
                f"{result['p95']:.1f}",
                f"{result['p99']:.1f}",
                int(result["errors"]),
            ]
        ],
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--players":
        paths = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_players(int(sys.argv[2]), paths, sys.argv[3]))))
        return
    packaging()
    decisions()
    simulations()
    serving()


if __name__ == "__main__":
    main()
