"""``backbeat stream package`` (a bitrate ladder as HLS) and ``backbeat stream simulate``
(ABR algorithms replayed over throughput traces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from backbeat.errors import ValidationError

__all__ = ["stream_app"]

stream_app = typer.Typer(
    help="Adaptive streaming: HLS packaging and ABR simulation.", no_args_is_help=True
)


@stream_app.command("package")
def package_command(
    file: Annotated[Path, typer.Argument(help="The audio file to package.")],
    out: Annotated[Path, typer.Option(help="The folder to write master.m3u8 and renditions.")],
    ladder: Annotated[
        str, typer.Option(help="CODEC:KBPS,... joined by '+', e.g. opus:32,64,96,160+aac:128.")
    ] = "opus:32,64,96,160+aac:64,128,256",
    segment_s: Annotated[float, typer.Option(help="Segment duration, 1 to 30 s.")] = 6.0,
    target_lufs: Annotated[float, typer.Option(help="Playback loudness target.")] = -14.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Encode the ladder (Opus, AAC-LC) and write HLS with fMP4 segments and playback gain."""
    from backbeat.streaming import package, parse_ladder

    result = package(
        file, out, ladder=parse_ladder(ladder), segment_s=segment_s, target_lufs=target_lufs
    ).to_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    state = "already packaged" if result["reused"] else "packaged"
    typer.echo(
        f"{state}: {out}/master.m3u8, {len(result['renditions'])} renditions, "
        f"{result['duration_s']:.1f} s, {result['integrated_lufs']:.1f} LUFS, "
        f"gain {result['gain_db']:+.1f} dB"
    )
    for r in result["renditions"]:
        typer.echo(
            f"  {r['name']:10s} {r['measured_kbps']:7.1f} kbit/s (nominal {r['nominal_kbps']}), "
            f"{r['segments']} segments"
        )


VIDEO_LADDER = (300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0)


def _ladder(text: str) -> tuple[str | None, tuple[float, ...]]:
    """``opus:32,64,96,160`` (an audio codec and its kbps) or ``video`` (Pensieve's)."""
    if text == "video":
        return None, VIDEO_LADDER
    codec, _, rates = text.partition(":")
    try:
        values = tuple(float(r) for r in rates.split(",") if r.strip())
    except ValueError:
        values = ()
    if not codec or not values:
        raise ValidationError(
            "cli.ladder",
            details={"value": text},
            message="--ladder takes CODEC:KBPS,KBPS,... (e.g. opus:32,64,96,160) or video; "
            "got {value!r}.",
        )
    return codec, values


@stream_app.command("simulate")
def simulate_command(
    traces: Annotated[Path, typer.Option(help="A folder of throughput traces (or one file).")],
    abr: Annotated[
        str, typer.Option(help="Algorithms: throughput, buffer, bola, mpc, fastmpc, dynamic.")
    ] = "throughput,bola,mpc,dynamic",
    ladder: Annotated[
        str, typer.Option(help="CODEC:KBPS,... (audio QoE) or 'video' (QoE_lin).")
    ] = "opus:32,64,96,160",
    segment_s: Annotated[float, typer.Option(min=0.1, help="Segment duration.")] = 4.0,
    segments: Annotated[int, typer.Option(min=1, help="Segments per session.")] = 48,
    scale: Annotated[float, typer.Option(min=1e-6, help="Multiply every throughput.")] = 1.0,
    latency_ms: Annotated[float, typer.Option(min=0, help="Request latency (RTT).")] = 80.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay each trace with each algorithm; print QoE, bitrate, rebuffer ratio, switches."""
    from backbeat.streaming import ALGORITHMS, load_traces, simulate

    codec, rungs = _ladder(ladder)
    known = ALGORITHMS
    wanted = [a.strip() for a in abr.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in known]
    if unknown or not wanted:
        raise ValidationError(
            "cli.abr",
            details={"value": ", ".join(unknown) or abr, "known": ", ".join(known)},
            message="Unknown ABR algorithm {value}: use {known}.",
        )
    loaded = load_traces(traces)
    table: dict[str, dict[str, float]] = {}
    for name in wanted:
        result = simulate(
            loaded,
            known[name](),
            ladder_kbps=rungs,
            segment_s=segment_s,
            segments=segments,
            scale=scale,
            latency_s=latency_ms / 1000,
            start_rung=0 if codec else 1,
            codec=codec,
        )
        s = result.summary
        table[name] = {
            "qoe": round(s["qoe_audio"] if codec else s["qoe_lin"], 4),
            "qoe_lin": round(s["qoe_lin"], 4),
            "bitrate_kbps": round(s["bitrate_kbps"], 1),
            "rebuffer_ratio": round(s["rebuffer_ratio"], 5),
            "switches_per_min": round(s["switches_per_min"], 3),
            "startup_s": round(s["startup_s"], 3),
        }
    if as_json:
        typer.echo(json.dumps(table))
        return
    kind = f"audio QoE ({codec})" if codec else "QoE_lin"
    typer.echo(f"{len(loaded)} traces, {kind}, scale {scale:g}")
    typer.echo(f"{'algorithm':12s} {'qoe':>8s} {'kbps':>8s} {'rebuffer':>9s} {'switch/min':>10s}")
    for name, row in table.items():
        typer.echo(
            f"{name:12s} {row['qoe']:8.3f} {row['bitrate_kbps']:8.1f} "
            f"{row['rebuffer_ratio']:9.4f} {row['switches_per_min']:10.2f}"
        )
