"""Render the audio accuracy corpus offline, with its ground truth.

Everything comes from packages, nothing is downloaded: music21's bundled Bach
chorales (key from the score), generated MIDI grooves (known tempo, meter, key),
speech from espeak-ng, noise and silence, mixtures and degradations. MIDI is
rendered by fluidsynth with the General MIDI soundfont (Debian packages
``fluidsynth``, ``fluid-soundfont-gm``). The same ``--seed`` gives the same corpus.

    python benchmarks/audio_eval/render.py --out var/audio_eval [--seed 7] [--small]

Writes WAV (plus MP3/OGG degradations) and ``manifest.jsonl``: one object per
file with ``file``, ``set`` and whatever truth applies (``key``, ``mode``,
``tempo``, ``meter``, ``speech``, ``vocal``, ``acoustic``, ``dance``, ``live``).
Grooves come in 3/4 and 4/4 (``groove``) and in 5/4 and 7/4 (``odd_groove``).
``pop_groove``: 4/4 grooves on pop and modal progressions (i-VI-III-VII, i-VII-VI-VII,
I-V-vi-IV, I-bVII-IV, grooves resting on V), natural minor in the melody: the minor keys
lean on their relative major and the majors on their dominant, the confusions a key
estimator makes on such music.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import mido
import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 44_100
PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

ACOUSTIC = {"piano": 0, "nylon": 24, "steel": 25, "bass": 32, "strings": 48, "flute": 73}
ELECTRONIC = {"saw": 81, "square": 80, "synbass": 38, "pad": 89, "epiano": 4, "dist": 30}
SOFT = {"organ": 19, "strings": 48, "choir": 52}
SECOND_GROUP = {4: 2, 5: 3, 7: 4}  # the beat that starts the bar's second group

MAJOR_PROGRESSIONS = [[0, 5, 7, 0], [0, 9, 5, 7], [0, 7, 9, 5], [0, 5, 0, 7]]
MINOR_PROGRESSIONS = [[0, 5, 7, 0], [0, 8, 5, 7], [0, 5, 8, 7], [0, 3, 5, 7]]
# Chord qualities (semitones above the chord root) by scale degree offset.
MAJOR_QUALITY = {
    0: (0, 4, 7),
    5: (0, 4, 7),
    7: (0, 4, 7, 10),
    9: (0, 3, 7),
    2: (0, 3, 7),
    4: (0, 3, 7),
    10: (0, 4, 7),
}
MINOR_QUALITY = {
    0: (0, 3, 7),
    5: (0, 3, 7),
    7: (0, 4, 7, 10),
    8: (0, 4, 7),
    3: (0, 4, 7),
    10: (0, 4, 7),
}
# Pop and modal progressions (the pop_groove set): I-V-vi-IV, I-iii-IV-V, I-bVII-IV-I,
# resting on V; i-VI-III-VII, i-VII-VI-VII, i-III-VII-iv, VI-VII-i-i.
POP_MAJOR = [[0, 7, 9, 5], [0, 4, 5, 7], [0, 10, 5, 0], [0, 5, 7, 7]]
POP_MINOR = [[0, 8, 3, 10], [0, 10, 8, 10], [0, 3, 10, 5], [8, 10, 0, 0]]

SPEECH = [
    "The quick brown fox jumps over the lazy dog while the band plays on.",
    "Music streaming services need to analyse millions of tracks every day.",
    "Please remember to bring your umbrella, the forecast says it will rain this afternoon.",
    "In the beginning was the word, and the word was spoken slowly and clearly.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Tomorrow we will discuss the budget, the schedule, and the new product launch.",
]
VOICES = ["en", "en-us", "en-gb-scotland", "fr", "de", "es", "it", "pt"]


def _fluidsynth(midi: Path, wav: Path) -> None:
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-g",
            "0.6",
            "-r",
            str(RATE),
            "-F",
            str(wav),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        capture_output=True,
    )


def _groove_midi(
    path: Path,
    tempo: float,
    meter: int,
    tonic: int,
    minor: bool,
    rng: np.random.Generator,
    programs: dict[str, int],
    electronic_kit: bool,
    bars: int = 16,
    pop: bool = False,
) -> None:
    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo)))
    conductor.append(mido.MetaMessage("time_signature", numerator=meter, denominator=4))
    mid.tracks.append(conductor)
    if pop:
        progressions = POP_MINOR if minor else POP_MAJOR
    else:
        progressions = MINOR_PROGRESSIONS if minor else MAJOR_PROGRESSIONS
    quality = MINOR_QUALITY if minor else MAJOR_QUALITY
    progression = progressions[int(rng.integers(len(progressions)))]
    events: dict[int, list[tuple[int, mido.Message]]] = {0: [], 1: [], 2: [], 9: []}

    def note(channel: int, start: int, length: int, pitch: int, velocity: int) -> None:
        events[channel].append(
            (start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
        )
        events[channel].append(
            (start + length, mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        )

    base = 48 + tonic if tonic < 6 else 36 + tonic  # chords around C3-F#3
    scale = [0, 2, 3, 5, 7, 8, 10 if pop else 11] if minor else [0, 2, 4, 5, 7, 9, 11]
    for bar in range(bars):
        degree = progression[bar % len(progression)]
        root = base + degree
        bar_start = bar * meter * tpb
        # Chords: held for the bar (pads) or struck on each beat (piano, guitar).
        if programs["chords"] in (89, 48, 19, 52):
            for interval in quality[degree]:
                note(0, bar_start, meter * tpb - 10, root + interval, 70)
        else:
            for beat in range(meter):
                for interval in quality[degree]:
                    note(0, bar_start + beat * tpb, tpb - 20, root + interval, 75 if beat else 90)
        # Bass: root on the downbeat, fifth later in the bar.
        note(1, bar_start, 2 * tpb - 20, root - 12, 100)
        note(1, bar_start + 2 * tpb, (meter - 2) * tpb - 20, root - 12 + 7, 85)
        # Melody: eighth notes from the scale, chord tones on strong beats.
        for eighth in range(meter * 2):
            if rng.random() < 0.35:
                continue
            if eighth % 2 == 0:
                pitch = root + 12 + quality[degree][int(rng.integers(len(quality[degree])))]
            else:
                pitch = base + 12 + scale[int(rng.integers(len(scale)))]
            note(2, bar_start + eighth * tpb // 2, tpb // 2 - 20, pitch, 80)
        # Drums: kick on the downbeat and on the second group's first beat (beat 3 of 4/4,
        # 3+2 in 5/4, 4+3 in 7/4), snare on the back beats of 4/4, hats on eighths.
        for beat in range(meter):
            start = bar_start + beat * tpb
            if beat == 0 or beat == SECOND_GROUP.get(meter):
                note(9, start, tpb // 4, 36, 115 if beat == 0 else 100)
            else:
                note(9, start, tpb // 4, 38 if meter == 4 else 42, 95 if meter == 4 else 70)
            note(9, start, tpb // 8, 42, 70)
            note(9, start + tpb // 2, tpb // 8, 42, 50)
    for channel, program in ((0, programs["chords"]), (1, programs["bass"]), (2, programs["lead"])):
        track = mido.MidiTrack()
        track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        mid.tracks.append(_track(events[channel], track))
    drums = mido.MidiTrack()
    drums.append(
        mido.Message("program_change", channel=9, program=24 if electronic_kit else 0, time=0)
    )
    mid.tracks.append(_track(events[9], drums))
    mid.save(path)


def _track(events: list[tuple[int, mido.Message]], track: mido.MidiTrack) -> mido.MidiTrack:
    now = 0
    for tick, message in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def render_groove(job: dict[str, Any]) -> list[dict[str, Any]]:
    out = Path(job["out"])
    rng = np.random.default_rng(job["seed"])
    electronic = job["electronic"]
    pool = ELECTRONIC if electronic else ACOUSTIC
    names = list(pool)
    programs = {
        "chords": pool[names[int(rng.integers(len(names)))]],
        "bass": 38 if electronic else 32,
        "lead": pool[names[int(rng.integers(len(names)))]],
    }
    name = job["name"]
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / f"{name}.mid"
        _groove_midi(
            midi,
            job["tempo"],
            job["meter"],
            job["tonic"],
            job["minor"],
            rng,
            programs,
            electronic,
            pop=job.get("set") == "pop_groove",
        )
        wav = out / f"{name}.wav"
        if not wav.exists():
            _fluidsynth(midi, wav)
    truth = {
        "file": wav.name,
        "set": job.get("set", "groove"),
        "key": job["tonic"],
        "mode": 0 if job["minor"] else 1,
        "tempo": job["tempo"],
        "meter": job["meter"],
        "speech": 0,
        "vocal": 0,
        "acoustic": 0 if electronic else 1,
        "dance": 1,
        "live": 0,
    }
    return [truth]


def _chorale_truth(score: Any) -> tuple[int, int] | None:
    """Tonic and mode from the key signature and the final bass note (None when modal)."""
    from music21 import key as m21key

    signatures = list(score.recurse().getElementsByClass(m21key.KeySignature))
    if not signatures:
        return None
    sharps = signatures[0].sharps
    major_tonic = (7 * sharps) % 12
    minor_tonic = (major_tonic + 9) % 12
    bass = score.parts[-1].recurse().notes
    if not bass:
        return None
    last = bass[-1]
    final = (last.pitches[0] if hasattr(last, "pitches") else last.pitch).pitchClass
    if final == major_tonic:
        return major_tonic, 1
    if final == minor_tonic:
        return minor_tonic, 0
    return None


def render_chorale(job: dict[str, Any]) -> list[dict[str, Any]]:
    from music21 import converter
    from music21 import tempo as m21tempo

    out = Path(job["out"])
    score = converter.parse(job["path"])
    truth = _chorale_truth(score)
    if truth is None or len(score.parts) < 4 or score.highestTime < 24:
        return []
    # The score's own tempo marks (text ones included) would override ours.
    for mark in list(score.recurse().getElementsByClass(m21tempo.TempoIndication)):
        mark.activeSite.remove(mark)
    for part in score.parts:
        part.insert(0, m21tempo.MetronomeMark(number=job["tempo"]))
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "c.mid"
        score.write("midi", fp=str(midi))
        mid = mido.MidiFile(midi)
        for track in mid.tracks:
            for i, message in enumerate(track):
                if message.type == "program_change":
                    track[i] = message.copy(program=job["program"])
            channels = {m.channel for m in track if hasattr(m, "channel")}
            for channel in channels:
                track.insert(
                    0, mido.Message("program_change", channel=channel, program=job["program"])
                )
        mid.save(midi)
        wav = out / f"{job['name']}.wav"
        if not wav.exists():
            _fluidsynth(midi, wav)
    return [
        {
            "file": wav.name,
            "set": "chorale",
            "key": truth[0],
            "mode": truth[1],
            "tempo": job["tempo"],
            "meter": None,
            "speech": 0,
            "vocal": 0,
            "acoustic": 1,
            "dance": 0,
            "live": 0,
            "program": job["program"],
            "source": Path(job["path"]).name,
        }
    ]


def render_speech(job: dict[str, Any]) -> list[dict[str, Any]]:
    out = Path(job["out"])
    wav = out / f"{job['name']}.wav"
    text = " ".join(job["texts"])
    subprocess.run(
        ["espeak-ng", "-v", job["voice"], "-s", str(job["rate"]), "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    return [
        {
            "file": wav.name,
            "set": "speech",
            "speech": 1,
            "vocal": 1,
            "dance": 0,
            "live": 0,
            "acoustic": 1,
            "key": None,
            "tempo": None,
            "meter": None,
        }
    ]


def _read(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data, rate


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    reps = int(np.ceil(length / len(x)))
    return np.tile(x, (reps, 1))[:length]


def _to_rate(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    import soxr

    return soxr.resample(x, rate, target) if rate != target else x


def derived(out: Path, manifest: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Noise, silence, speech-over-music mixtures, live versions and degradations."""
    rng = np.random.default_rng(seed + 1)
    rows: list[dict[str, Any]] = []
    base = {
        "speech": 0,
        "vocal": 0,
        "dance": 0,
        "live": 0,
        "acoustic": 0,
        "key": None,
        "mode": None,
        "tempo": None,
        "meter": None,
    }
    for i, colour in enumerate(["white", "pink", "brown"] * 2):
        n = RATE * 20
        white = rng.standard_normal(n)
        if colour == "white":
            noise = white
        else:
            spectrum = np.fft.rfft(white)
            f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
            noise = np.fft.irfft(spectrum / (np.sqrt(f) if colour == "pink" else f), n)
        noise = (noise / np.abs(noise).max() * (0.5 if i < 3 else 0.05)).astype(np.float32)
        name = f"noise_{colour}_{i}.wav"
        sf.write(out / name, np.stack([noise, noise], 1), RATE)
        rows.append({**base, "file": name, "set": "noise"})
    for i, seconds in enumerate([5, 30]):
        name = f"silence_{i}.wav"
        sf.write(out / name, np.zeros((RATE * seconds, 2), np.float32), RATE)
        rows.append({**base, "file": name, "set": "silence"})
    grooves = [r for r in manifest if r["set"] == "groove"]
    chorales = [r for r in manifest if r["set"] == "chorale"]
    speeches = [r for r in manifest if r["set"] == "speech"]
    # Speech over music: a voice on an instrumental track (vocal=1; speechiness in between).
    for i, (music, speech) in enumerate(zip(grooves[::2], speeches * 10, strict=False)):
        m, mr = _read(out / music["file"])
        s, sr_ = _read(out / speech["file"])
        s = _to_rate(s, sr_, mr)
        s = _fit(s.mean(axis=1, keepdims=True), len(m))
        gain_db = [-6.0, 0.0, 6.0][i % 3]
        voice = s / (np.sqrt(np.mean(s**2)) + 1e-9) * np.sqrt(np.mean(m**2)) * 10 ** (gain_db / 20)
        mix = m + voice
        mix /= max(1.0, float(np.abs(mix).max()) / 0.95)
        name = f"mix_{i:02d}.wav"
        sf.write(out / name, mix.astype(np.float32), mr)
        rows.append(
            {**music, "file": name, "set": "mix", "vocal": 1, "speech": 0.5, "voice_db": gain_db}
        )
    # Live: hall reverberation (RT60 1.8 s) plus crowd noise, on grooves and chorales.
    for i, music in enumerate(grooves[1::8] + chorales[::6]):
        m, mr = _read(out / music["file"])
        t = np.arange(int(1.8 * mr)) / mr
        ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / 1.8)
        ir[0] = 8.0
        wet = np.stack([fftconvolve(m[:, c], ir)[: len(m)] for c in range(m.shape[1])], 1)
        wet /= np.sqrt(np.mean(wet**2)) / np.sqrt(np.mean(m**2))
        crowd = rng.standard_normal(wet.shape) * 0.02
        claps = (rng.random(wet.shape) < 0.002) * rng.standard_normal(wet.shape) * 0.3
        crowd += np.stack(
            [
                np.convolve(claps[:, c], np.exp(-np.arange(200) / 30))[: len(m)]
                for c in range(m.shape[1])
            ],
            1,
        )
        live = wet + crowd * np.sqrt(np.mean(m**2)) / 0.05
        live /= max(1.0, float(np.abs(live).max()) / 0.95)
        name = f"live_{i:02d}.wav"
        sf.write(out / name, live.astype(np.float32), mr)
        rows.append({**music, "file": name, "set": f"live_{music['set']}", "live": 1})
    # Degradations: MP3 and OGG re-encoding, noise at 20 dB SNR, -18 dB gain.
    for i, music in enumerate(grooves[::4] + chorales[::3]):
        m, mr = _read(out / music["file"])
        kind = ["mp3", "ogg", "noise", "gain"][i % 4]
        name = f"degraded_{kind}_{i:02d}.{'wav' if kind in ('noise', 'gain') else kind}"
        if kind in ("mp3", "ogg"):
            # In small writes: libsndfile's encoders crash on one large write.
            options = {"format": "MP3"} if kind == "mp3" else {"format": "OGG", "subtype": "VORBIS"}
            with sf.SoundFile(out / name, "w", mr, m.shape[1], **options) as encoded:
                for start in range(0, len(m), 4096):
                    encoded.write(m[start : start + 4096])
        elif kind == "noise":
            noise = rng.standard_normal(m.shape) * np.sqrt(np.mean(m**2)) * 0.1
            sf.write(out / name, (m + noise).astype(np.float32), mr)
        else:
            sf.write(out / name, (m * 10 ** (-18 / 20)).astype(np.float32), mr)
        rows.append({**music, "file": name, "set": f"degraded_{music['set']}", "degradation": kind})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("var/audio_eval"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--small", action="store_true", help="a quarter of the corpus, for a quick look"
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if (
        shutil.which("fluidsynth") is None
        or not SOUNDFONT.exists()
        or shutil.which("espeak-ng") is None
    ):
        sys.exit(
            "needs Debian packages fluidsynth, fluid-soundfont-gm and espeak-ng (make eval-deps)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    jobs: list[tuple[Any, dict[str, Any]]] = []
    scale = 4 if args.small else 1
    # (b) grooves: every key in both meters, tempo drawn from 60-180 BPM.
    for index in range(0, 96, scale):
        tonic, minor, meter = index % 12, bool((index // 12) % 2), 3 if (index // 24) % 2 else 4
        tempo = float(np.round(rng.uniform(60, 180), 1))
        electronic = bool(index % 2)
        jobs.append(
            (
                render_groove,
                {
                    "out": str(args.out),
                    "seed": args.seed * 1000 + index,
                    "name": f"groove_{index:03d}",
                    "tempo": tempo,
                    "meter": meter,
                    "tonic": tonic,
                    "minor": minor,
                    "electronic": electronic,
                },
            )
        )
    # (a) chorales at chosen tempos with soft-onset programs (organ, strings, choir).
    from music21 import corpus

    paths = sorted(
        p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml", ".musicxml")
    )
    picked = [
        paths[i] for i in rng.choice(len(paths), size=min(len(paths), 80 // scale), replace=False)
    ]
    for index, path in enumerate(picked):
        program = list(SOFT.values())[index % 3]
        tempo = float(np.round(rng.uniform(60, 110), 1))
        jobs.append(
            (
                render_chorale,
                {
                    "out": str(args.out),
                    "path": str(path),
                    "name": f"chorale_{index:03d}",
                    "tempo": tempo,
                    "program": program,
                },
            )
        )
    # (b') grooves in 5/4 and 7/4, from their own generator so that adding them left the
    # other sets of a seed unchanged.
    odd = np.random.default_rng(args.seed + 2)
    for index in range(0, 24, scale):
        tempo = float(np.round(odd.uniform(60, 180), 1))
        jobs.append(
            (
                render_groove,
                {
                    "out": str(args.out),
                    "seed": args.seed * 1000 + 500 + index,
                    "name": f"odd_groove_{index:03d}",
                    "set": "odd_groove",
                    "tempo": tempo,
                    "meter": 5 if index % 2 else 7,
                    "tonic": int(odd.integers(12)),
                    "minor": bool(odd.integers(2)),
                    "electronic": bool(index % 4 < 2),
                },
            )
        )
    # (b'') pop and modal progressions in 4/4, from a generator of their own (the other
    # sets of a seed stay as they were): every tonic in both modes.
    pop = np.random.default_rng(args.seed + 3)
    for index in range(0, 24, scale):
        tempo = float(np.round(pop.uniform(70, 150), 1))
        jobs.append(
            (
                render_groove,
                {
                    "out": str(args.out),
                    "seed": args.seed * 1000 + 700 + index,
                    "name": f"pop_groove_{index:03d}",
                    "set": "pop_groove",
                    "tempo": tempo,
                    "meter": 4,
                    "tonic": index % 12,
                    "minor": index >= 12,
                    "electronic": bool(index % 2),
                },
            )
        )
    # (c) speech: several voices and rates.
    for index in range(0, 24, scale):
        texts = [SPEECH[(index + k) % len(SPEECH)] for k in range(3)]
        jobs.append(
            (
                render_speech,
                {
                    "out": str(args.out),
                    "name": f"speech_{index:02d}",
                    "texts": texts,
                    "voice": VOICES[index % len(VOICES)],
                    "rate": 140 + 10 * (index % 5),
                },
            )
        )
    manifest: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for rows in pool.map(_call, jobs):
            manifest.extend(rows)
    manifest.extend(derived(args.out, manifest, args.seed))
    with (args.out / "manifest.jsonl").open("w") as f:
        for row in manifest:
            f.write(json.dumps(row) + "\n")
    counts: dict[str, int] = {}
    for row in manifest:
        counts[row["set"]] = counts.get(row["set"], 0) + 1
    print(json.dumps({"files": len(manifest), "sets": counts}))


def _call(job: tuple[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    function, kwargs = job
    return function(kwargs)


if __name__ == "__main__":
    main()
