"""`saymotion speech`: the spoken-instruction corpus (synthesized speech and its encoder features)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from saymotion import settings

WORKERS_HELP = "worker processes (default: all cores, %(default)s)"
DEFAULT_PAUSE_S = 0.8


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "speech", help="synthesize the spoken-instruction corpus and its features", description=__doc__
    )
    actions = parser.add_subparsers(dest="speech_command", metavar="ACTION", required=True)

    synthesize = actions.add_parser(
        "synthesize",
        help="speak every description with many offline voices into 16 kHz audio and a manifest",
        description="Speak the descriptions of every split with espeak-ng, flite, festival and Piper voices: "
        "training texts by training voices with augmentation, validation texts by training voices, test "
        "texts only by held-out voices. Writes SDIR/audio/, SDIR/manifest.jsonl and SDIR/corpus.json. "
        "An interrupted run resumes without redoing finished utterances.",
    )
    synthesize.add_argument(
        "--data",
        type=Path,
        default=settings.default_prepared_dir(),
        help="prepared dataset folder holding descriptions.jsonl (default: %(default)s)",
    )
    synthesize.add_argument(
        "--out", type=Path, default=settings.default_speech_dir(), help="corpus folder SDIR (default: %(default)s)"
    )
    synthesize.add_argument(
        "--limit",
        type=int,
        default=None,
        help="synthesize only the first N planned utterances (a sample of all splits)",
    )
    synthesize.add_argument("--workers", type=int, default=os.cpu_count() or 1, help=WORKERS_HELP)
    synthesize.add_argument("--quiet", action="store_true", help="no progress bar")
    synthesize.set_defaults(func=run_synthesize)

    features = actions.add_parser(
        "features",
        help="cache frozen speech-encoder features (fp16, sharded, memory-mappable) of every utterance",
        description="Run a frozen pretrained speech encoder over every manifest utterance and cache its "
        "frame features under SDIR/features/<encoder>/ with an index. Finished shards are kept on re-runs.",
    )
    features.add_argument(
        "--speech", type=Path, default=settings.default_speech_dir(), help="corpus folder SDIR (default: %(default)s)"
    )
    features.add_argument(
        "--encoder",
        default="whisper-base",
        help="whisper-base (default, 512-d), whisper-tiny.en (384-d), logmel (160-d, no network), or hf:<transformers model id or folder>",
    )
    features.add_argument("--workers", type=int, default=os.cpu_count() or 1, help=WORKERS_HELP)
    features.add_argument("--quiet", action="store_true", help="no progress bar")
    features.set_defaults(func=run_features)

    voices = actions.add_parser(
        "voices",
        help="list the voice catalogue",
        description="List every voice: engine, engine voice, held out or not, licence.",
    )
    voices.set_defaults(func=run_voices)

    say = actions.add_parser(
        "say",
        help="speak one text with one catalogue voice into a 16 kHz WAV file",
        description="Speak TEXT with a voice of the catalogue (see `saymotion speech voices`) into a WAV file. "
        "Several instructions separated by '|' are spoken one after the other with silence between them "
        "(a multi-step recording for `saymotion generate --steps`).",
    )
    say.add_argument("text", help="what to say; 'first|second|third' for several instructions")
    say.add_argument("-o", "--out", type=Path, required=True, help="output .wav file")
    say.add_argument("--voice", default="piper-en_US-joe-medium", help="voice name (default: %(default)s)")
    say.add_argument("--pause", type=float, action="append", metavar="SECONDS",
                     help=f"silence between '|'-separated parts: once for every gap or once per gap "
                     f"(default: {DEFAULT_PAUSE_S:g})")
    say.set_defaults(func=run_say)


def run_synthesize(args: argparse.Namespace) -> int:
    from saymotion.speech.corpus import synthesize_corpus

    rows = synthesize_corpus(args.data, args.out, limit=args.limit, workers=args.workers, progress=not args.quiet)
    voices = {row.voice for row in rows}
    hours = sum(row.duration for row in rows) / 3600
    print(f"{len(rows)} utterances ({hours:.2f} h) from {len(voices)} voices -> {args.out}")
    return 0


def run_features(args: argparse.Namespace) -> int:
    from saymotion.speech.feature_store import extract_features, features_dir

    index = extract_features(args.speech, args.encoder, workers=args.workers, progress=not args.quiet)
    shape = f"{index['dim']}-d at {index['frame_rate']:g} Hz"
    print(f"{len(index['utterances'])} utterances, {shape} -> {features_dir(args.speech, args.encoder)}")
    return 0


def run_voices(args: argparse.Namespace) -> int:
    from saymotion.speech.voices import voice_catalogue

    for voice in voice_catalogue():
        role = "held-out" if voice.heldout else "train"
        print(f"{voice.name:40s} {voice.engine:10s} {voice.model:24s} {role:8s} {voice.licence}")
    return 0


def run_say(args: argparse.Namespace) -> int:
    import numpy as np

    from saymotion.audio import SAMPLE_RATE, write_audio
    from saymotion.errors import SaymotionError
    from saymotion.speech.engines import Synthesizer, require_engines
    from saymotion.speech.voices import voice_catalogue

    voices = {voice.name: voice for voice in voice_catalogue()}
    if args.voice not in voices:
        raise SaymotionError(f"unknown voice {args.voice!r}; `saymotion speech voices` lists them")
    parts = [part.strip() for part in args.text.split("|")]
    if not all(parts):
        raise SaymotionError("give a non-empty text to say (and no empty part between '|')")
    if args.out.suffix.lower() != ".wav":
        raise SaymotionError(f"say writes a .wav file, got {args.out.name!r}")
    pauses = pause_lengths(args.pause, len(parts) - 1)
    voice = voices[args.voice]
    require_engines([voice])
    synthesizer = Synthesizer()
    pieces = [synthesizer(parts[0], voice)]
    for pause, part in zip(pauses, parts[1:]):
        pieces += [np.zeros(round(pause * SAMPLE_RATE), np.float32), synthesizer(part, voice)]
    waveform = np.concatenate(pieces)
    write_audio(args.out, waveform)
    print(f"wrote {args.out} ({len(waveform) / SAMPLE_RATE:.2f} s, {len(parts)} part(s), voice {voice.name})")
    return 0


def pause_lengths(given: list[float] | None, gaps: int) -> list[float]:
    """The silence before each part after the first, from --pause given never, once, or once per gap."""
    from saymotion.errors import SaymotionError

    if given and gaps == 0:
        raise SaymotionError("--pause needs several parts to say, separated by '|'")
    pauses = given or [DEFAULT_PAUSE_S]
    if len(pauses) not in (1, gaps):
        raise SaymotionError(f"give --pause once or once per gap: {gaps} gaps but {len(pauses)} pauses")
    if any(not 0 < pause <= 10 for pause in pauses):
        raise SaymotionError("--pause must be between 0 and 10 seconds")
    return pauses * gaps if len(pauses) == 1 else pauses
