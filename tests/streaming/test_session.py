"""Server-side adaptive sessions (the seed's stream_processor): decisions follow the
reported throughput, each rendition stays one decodable Opus stream."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from backbeat.settings import Settings
from backbeat.streaming import StreamingError
from backbeat.toolkit import Toolkit

pytestmark = pytest.mark.anyio


async def test_the_seed_loop_adapts_to_throughput(tmp_path: Path) -> None:
    tk = Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))
    processor = tk["stream_processor"]
    assert processor is tk.streaming
    session = await processor.configure_adaptive_quality(
        target_latency_ms=50, bandwidth_estimation=True
    )
    rng = np.random.default_rng(3)
    chunk_s = 0.2
    throughputs = [400.0] * 5 + [70.0] * 5 + [400.0] * 5
    chosen, decoded = [], {}
    for kbps in throughputs:
        chunk = (0.2 * rng.standard_normal((int(48000 * chunk_s), 2))).astype(np.float32)
        result = await processor.process_chunk(
            chunk, quality="adaptive", ml_enhancement=True, throughput_kbps=kbps
        )
        chosen.append(result.kbps)
        decoded.setdefault(result.rendition, []).extend(result.packets)
        assert result.duration_s == pytest.approx(chunk_s)
    assert chosen[4] == 160  # 400 kbit/s sustains the top rung
    assert chosen[9] <= 64  # 70 kbit/s does not
    assert chosen[-1] == 160
    assert session.chunks == len(throughputs)
    for name, packets in decoded.items():  # each rendition decodes as one Opus stream
        decoder = av.CodecContext.create("libopus", "r")
        decoder.sample_rate, decoder.layout = 48000, "stereo"
        samples = sum(frame.samples for p in packets for frame in decoder.decode(av.Packet(p)))
        assert samples > 0, name


async def test_pinned_quality_and_bad_chunks(tmp_path: Path) -> None:
    tk = Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))
    processor = tk.streaming
    await processor.configure_adaptive_quality(target_latency_ms=2000)
    tone = np.sin(np.arange(9600) / 10).astype(np.float32)
    pinned = await processor.process_chunk(tone, quality="opus_64")
    assert pinned.rendition == "opus_64"
    assert (await processor.process_chunk(tone, quality=96)).kbps == 96
    with pytest.raises(StreamingError) as info:
        await processor.process_chunk(tone, quality="opus_999")
    assert info.value.code == "streaming.quality_invalid"
    with pytest.raises(StreamingError) as info:
        await processor.process_chunk(np.full(100, np.nan, dtype=np.float32))
    assert info.value.code == "streaming.chunk_invalid"
    with pytest.raises(StreamingError):
        await processor.process_chunk(np.zeros((10, 5), dtype=np.float32))


async def test_qos_manager_records_into_the_monitor(tmp_path: Path) -> None:
    tk = Toolkit(Settings.from_env({"BACKBEAT_DATA_DIR": str(tmp_path)}))
    qos = tk["qos_manager"]
    before = tk.monitor.metrics.stream_bitrate._sum.get()
    await qos.track_metrics(latency_ms=42.0, bitrate=96.0, quality_score=0.9)
    assert tk.monitor.metrics.stream_bitrate._sum.get() == before + 96.0
