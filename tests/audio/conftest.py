from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")
import soundfile as sf

from tests.audio._synth import RATE, groove


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of generated files shared by the audio tests."""
    root = tmp_path_factory.mktemp("audio")
    sf.write(root / "c_major_120.wav", np.stack([groove(120.0)] * 2, axis=1), RATE)
    sf.write(root / "d_minor_90_3.flac", groove(90.0, tonic=2, minor=True, meter=3), RATE)
    sf.write(root / "a_major_150.wav", groove(150.0, tonic=9, seed=1), RATE)
    sf.write(root / "silence.wav", np.zeros(RATE * 5, np.float32), RATE)
    return root
