"""Runs training stages into one run folder:

    RUN/config.json                 the config as resolved when the run started
    RUN/tokenizer/{last.pt,model.pt,train.csv,eval.csv}
    RUN/codes-<tokenizer id>-<split>.npz   code sequences of every clip (cache)
    RUN/text-embeddings.npz         MiniLM embeddings of every training text (cache)
    RUN/listener/...                speech -> meaning, when condition.listener (needs no tokenizer)
    RUN/generator/... RUN/residual/... RUN/length/...

Later stages learn from the finished tokenizer (RUN/tokenizer/model.pt unless another is named);
its tokenizer settings and normalisation statistics are forced onto them.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from saymotion.checkpoint import (
    LAST, Checkpoint, build_model, check_same_tokenizer, exported_file, load_checkpoint, model_file, model_files, run_file,
    save_checkpoint,
)
from saymotion.config import (TRAINING_STAGES, ConfigError, ExperimentConfig, KnownMeaningsConfig,
                              config_to_dict, downsampling_factor, override_sampling, speech_dir)
from saymotion.errors import CheckpointError, DataError
from saymotion.fileio import atomic_open, atomic_path, save_npz, write_json
from saymotion.known_meanings import (
    MEANINGS_FILE, build_known_meanings, save_known_meanings, spoken_training_texts,
)
from saymotion.training.data import ClipConditions, CodeSplit, MotionSet, TextEmbeddingCache, UtteranceSet
from saymotion.training.distributed import RunContext, barrier
from saymotion.training.loop import LISTENER_CONDITION_IGNORES, StageResult, dict_differences, run_stage
from saymotion.training.sources import TrainingSources, load_conditions, load_utterances, open_sources
from saymotion.training.stages import CodeStage, ListenerStage, Normalisation, TokenizerStage, extract_codes

T = TypeVar("T")


@dataclass
class RunOptions:
    config: ExperimentConfig
    out_dir: Path
    tokenizer: Path | None = None  # default: out_dir/tokenizer/model.pt
    stop_at: int | None = None
    progress: bool = True
    init_from: Path | None = None  # model or run folder whose weights the code stages start from (fine-tuning)
    condition_from: Path | None = None  # model or run folder whose condition encoder a new code stage starts from


def training_stages(config: ExperimentConfig) -> list[str]:
    """The stages `saymotion train all` runs for `config`, in order."""
    return [kind for kind in TRAINING_STAGES if kind != "listener" or config.condition.listener]


def train_stages(stages: list[str], options: RunOptions, context: RunContext) -> dict[str, StageResult]:
    """Train `stages` in order (each one resumes or is skipped when already finished)."""
    if "listener" in stages and not options.config.condition.listener:
        raise DataError("the listener stage is off in this config; set condition.listener = true (and align_weight > 0)")
    sources = open_sources(options.config, with_speech=any(kind != "tokenizer" for kind in stages))
    if context.is_main and not (options.out_dir / "config.json").exists():
        write_json(options.out_dir / "config.json", config_to_dict(options.config))
    results: dict[str, StageResult] = {}
    for kind in stages:
        if kind == "tokenizer":
            results[kind] = _train_tokenizer(sources, options, context)
        elif kind == "listener":
            results[kind] = _train_listener(sources, options, context)
        else:
            results[kind] = _train_code_stage(kind, sources, options, context)
        if not results[kind].finished:
            break
    return results


def _train_tokenizer(sources: TrainingSources, options: RunOptions, context: RunContext) -> StageResult:
    config = options.config
    norm = Normalisation(sources.motion.mean, sources.motion.std, sources.motion.skeleton)
    stage_dir = options.out_dir / "tokenizer"
    last_path = stage_dir / LAST
    saved = load_checkpoint(last_path, "tokenizer", context.device) if last_path.is_file() else None
    start = _tokenizer_start(options, context, saved)
    if start is not None:  # its codes must not change: its architecture and normalisation
        config = dataclasses.replace(config, tokenizer=start.config.tokenizer)
        norm = Normalisation(start.mean, start.std, start.skeleton)
    factor = downsampling_factor(config)
    splits = [
        MotionSet.load(sources.motion, split, norm.mean, norm.std, factor, mirror=config.data.mirror and split == "train")
        for split in ("train", "val", "test")
    ]
    stage = TokenizerStage(config, *splits, norm, context.device, start=start)
    return run_stage(stage, stage_dir, context, stop_at=options.stop_at, progress=options.progress, saved=saved)


def _tokenizer_start(options: RunOptions, context: RunContext, saved: Checkpoint | None) -> Checkpoint | None:
    """The tokenizer whose decoder this run fine-tunes: that of --init-from, or, resumed without it,
    the run's own unfinished fine-tune (`saved`; its codes are those it records); None to train one from scratch."""
    if options.init_from is not None:
        path = model_file(options.init_from, "tokenizer")
        start = load_checkpoint(path, "tokenizer", context.device)
        if context.is_main:
            print(f"tokenizer: fine-tunes the decoder of {path} (step {start.step}) on its codes", flush=True)
        return start
    return saved if saved is not None and saved.started_from else None


def _train_listener(sources: TrainingSources, options: RunOptions, context: RunContext) -> StageResult:
    norm = Normalisation(sources.motion.mean, sources.motion.std, sources.motion.skeleton)

    def load() -> tuple[UtteranceSet, UtteranceSet, UtteranceSet]:
        cache = TextEmbeddingCache(options.out_dir / "text-embeddings.npz")
        return (load_utterances(options.config, sources, "train", cache),
                load_utterances(options.config, sources, "val", cache),
                load_utterances(options.config, sources, "val", cache, unheard=True))

    train, val, val_unheard = _main_rank_first(context, load)
    if not len(train):
        raise DataError("the speech corpus has no training utterance of the kinds in data.instruction_kinds")
    data = options.config.data
    if (data.unheard_voices or data.unheard_phrasing) and not len(val_unheard):
        raise DataError("data.unheard_voices and data.unheard_phrasing match no utterance of the speech corpus's val split")
    if context.is_main:
        unheard = f", {len(val_unheard)} unheard (voice or phrasing)" if len(val_unheard) else ""
        print(f"listener: {len(train)} training utterances, {len(val)} validation utterances{unheard}", flush=True)
    stage = ListenerStage(options.config, train, val, norm, context.device, val_unheard)
    return run_stage(stage, options.out_dir / "listener", context, stop_at=options.stop_at, progress=options.progress)


def _train_code_stage(kind: str, sources: TrainingSources, options: RunOptions, context: RunContext) -> StageResult:
    tokenizer = load_checkpoint(options.tokenizer or run_file(options.out_dir, "tokenizer"), "tokenizer", context.device)
    config = dataclasses.replace(options.config, tokenizer=tokenizer.config.tokenizer)
    changed = [
        field.name
        for field in dataclasses.fields(config.tokenizer)
        if getattr(config.tokenizer, field.name) != getattr(options.config.tokenizer, field.name)
    ]
    if changed and context.is_main:
        print(f"{kind}: using the tokenizer's own settings for tokenizer.{', '.join(changed)}", flush=True)
    splits = _main_rank_first(context, lambda: _code_stage_data(config, sources, tokenizer, options.out_dir, context))
    _report_coverage(kind, splits["train"].conditions, context)
    stage = CodeStage(kind, config, tokenizer, splits["train"], splits["val"], context.device)
    # A model started from (--init-from) brings its own condition encoder, and the generator's
    # already holds the listener's weights; only a missing frame reader comes from the run's listener.
    if options.init_from is not None:
        if _start_from_model(stage, options.init_from, context):
            _start_from_listener(stage, options.out_dir, context)
    elif options.condition_from is not None:
        _start_condition_from_model(stage, options.condition_from, context)
    elif kind != "generator" and config.condition.init_from_generator:
        _start_condition_from_generator(stage, options.out_dir, context)
    elif config.condition.listener:
        _start_from_listener(stage, options.out_dir, context)
    if config.condition.listener:
        stage.model.condition.freeze_listener(dropout=config.condition.listener_dropout)
    if not config.condition.train_audio_encoder:
        _freeze_audio_encoder(kind, stage, options)
    hear = (lambda: _hear_speech_in_advance(stage, context)) if stage.model.condition.speech_side_fixed else None
    return run_stage(stage, options.out_dir / kind, context, stop_at=options.stop_at, progress=options.progress,
                     before_training=hear)


def _hear_speech_in_advance(stage: CodeStage, context: RunContext) -> None:
    started = time.perf_counter()
    stage.hear_speech_in_advance()
    if context.is_main:
        print(f"{stage.kind}: the speech side is fixed; every utterance heard in advance "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


def _freeze_audio_encoder(kind: str, stage: CodeStage, options: RunOptions) -> None:
    """Hold the stage's audio encoder as it starts (condition.train_audio_encoder = false), which must
    be trained: from a model, the run's generator or a listener that holds it."""
    condition, config = stage.model.condition, options.config.condition
    trained = (options.init_from is not None or options.condition_from is not None
               or (kind != "generator" and config.init_from_generator)
               or (config.listener and "audio" in condition.listener_parts()))  # fmt: skip
    if not trained:
        raise ConfigError(f"{kind}: condition.train_audio_encoder = false would freeze an untrained audio encoder; "
                          "start from a trained model (--init-from MODEL)")
    condition.freeze_audio_encoder()


def _main_rank_first(context: RunContext, load: Callable[[], T]) -> T:
    """`load()` on rank 0 first, which writes the run's caches, then on the other ranks, which read them."""
    if context.is_main:
        result = load()
    barrier(context)
    if not context.is_main:
        result = load()
    return result


def _start_from_model(stage: CodeStage, model_dir: Path, context: RunContext) -> bool:
    """Start a code stage from the weights of the same kind in `model_dir` (fine-tuning; a resumed
    stage then loads its own weights over them). Only a frame reader may be missing, which the
    run's listener fills next: that is how a model trained with another listener learns to hear
    through a frame-reading one. Returns whether it was missing."""
    path = model_file(model_dir, stage.kind)
    start = load_checkpoint(path, stage.kind, context.device)
    try:
        check_same_tokenizer({"tokenizer": stage.tokenizer, stage.kind: start}, "; pass its own with --tokenizer")
    except CheckpointError as error:
        raise DataError(f"--init-from: {path}: {error}") from None
    if start.dims != stage.dims:
        raise DataError(f"--init-from: {path} was trained on other data sizes ({start.dims} against {stage.dims})")
    condition = stage.config.condition
    missing_frame_reader = load_weights_but_frame_reader(
        stage.model, start.model.state_dict(), f"--init-from: {path}",
        frame_reader_follows=condition.listener and condition.meaning_layers > 0)
    stage.started_from = start.id
    if context.is_main:
        print(f"{stage.kind}: starts from the weights of {path} (step {start.step})", flush=True)
    return missing_frame_reader


def _start_condition_from_model(stage: CodeStage, model_dir: Path, context: RunContext) -> None:
    """Start a new code stage's condition encoder (speech side, listener, text projection) from the
    same model in `model_dir`, the transformer itself from scratch: a stage retrained with other
    settings keeps the speech side it was given (`--condition-from`)."""
    path = model_file(model_dir, stage.kind)
    start = load_checkpoint(path, stage.kind, context.device)
    if start.dims.audio_dim != stage.dims.audio_dim:
        raise DataError(f"--condition-from: {path} hears other speech features ({start.dims.audio_dim} against "
                        f"{stage.dims.audio_dim})")
    load_weights_but_frame_reader(stage.model.condition, start.model.condition.state_dict(),
                                  f"--condition-from: {path}", frame_reader_follows=False)
    stage.started_from = start.id
    if context.is_main:
        print(f"{stage.kind}: condition encoder starts from {path} (step {start.step})", flush=True)


def load_weights_but_frame_reader(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str, *,
                                  frame_reader_follows: bool) -> bool:
    """Load `state_dict` into `model`; with `frame_reader_follows`, the weights of a listener's frame
    reader may be missing (a listener loaded next brings them), nothing else. Returns whether they were."""
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:  # sizes differ
        raise DataError(f"{what}: the weights do not fit this model's settings "
                        f"({str(error).strip().splitlines()[-1].strip()})") from None
    stray = [name for name in missing if not (frame_reader_follows and name.startswith(FRAME_READER_PREFIX))]
    if unexpected or stray:
        raise DataError(f"{what}: the weights do not fit this model's settings")
    return bool(missing)


def _start_from_listener(stage: CodeStage, out_dir: Path, context: RunContext) -> None:
    """Copy the run's trained listener into a new model's condition encoder (frozen there)."""
    path = run_file(out_dir, "listener")
    if not path.is_file():
        raise DataError(f"condition.listener: {path} does not exist yet; train the listener first "
                        "(saymotion train listener) or set condition.listener = false")
    listener = load_checkpoint(path, "listener", context.device)
    differences = listener_differences(listener, stage.config, stage.dims.audio_dim)
    if differences:
        raise DataError(f"condition.listener: {path} was trained with other settings ({', '.join(differences)})")
    stage.model.condition.load_listener(listener.model)
    if context.is_main:
        print(f"{stage.kind}: listener from {path} (frozen)", flush=True)


def listener_differences(listener: Checkpoint, config: ExperimentConfig, audio_dim: int) -> list[str]:
    """The settings in which a trained listener does not fit a model of `config` hearing `audio_dim` features."""
    differences = dict_differences(config_to_dict(listener.config)["condition"], config_to_dict(config)["condition"],
                                   LISTENER_CONDITION_IGNORES)
    if listener.config.data.speech_encoder != config.data.speech_encoder or listener.dims.audio_dim != audio_dim:
        differences.append("data.speech_encoder")
    return differences


def _start_condition_from_generator(stage: CodeStage, out_dir: Path, context: RunContext) -> None:
    """Copy the condition encoder of the run's finished generator into a new residual or length
    model (a resumed stage then loads its own weights over it)."""
    path = run_file(out_dir, "generator")
    if not path.is_file():
        raise DataError(f"condition.init_from_generator: {path} does not exist yet; train the generator first "
                        "or set condition.init_from_generator = false")
    generator = load_checkpoint(path, "generator", context.device)
    if generator.config.condition != stage.config.condition or generator.dims.audio_dim != stage.dims.audio_dim:
        raise DataError(f"condition.init_from_generator: {path} was trained with other condition settings")
    stage.model.condition.load_state_dict(generator.model.condition.state_dict())
    if context.is_main:
        print(f"{stage.kind}: condition encoder starts from {path}", flush=True)


def _code_stage_data(
    config: ExperimentConfig, sources: TrainingSources, tokenizer: Checkpoint, out_dir: Path, context: RunContext
) -> dict[str, CodeSplit]:
    cache = TextEmbeddingCache(out_dir / "text-embeddings.npz")
    clips = sources.motion.clips
    splits = {}
    for split in ("train", "val"):
        motions = MotionSet.load(sources.motion, split, tokenizer.mean, tokenizer.std, downsampling_factor(config))
        codes = _codes(tokenizer, motions, split, out_dir, context)
        splits[split] = CodeSplit(codes, load_conditions(config, sources, motions.ids, split, cache),
                                  [clips[clip].action for clip in motions.ids])
    return splits


def _codes(tokenizer: Checkpoint, motions: MotionSet, split: str, out_dir: Path, context: RunContext) -> list[np.ndarray]:
    """Code sequences of the clips, read from the run's cache when this tokenizer made it."""
    path = out_dir / f"codes-{tokenizer.codes_id[:12]}-{split}.npz"
    if path.is_file():
        with np.load(path) as stored:
            if set(stored.files) == set(motions.ids):
                return [stored[clip] for clip in motions.ids]
    codes = extract_codes(tokenizer.model, motions, context.device)
    if context.is_main:
        save_npz(path, **dict(zip(motions.ids, codes)))
    return codes


def _report_coverage(kind: str, conditions: ClipConditions, context: RunContext) -> None:
    coverage = conditions.coverage()
    if context.is_main:
        print(f"{kind}: {coverage['clips']} training clips, {coverage['with_audio']} with speech, "
              f"{coverage['with_text']} with text", flush=True)
    if coverage["with_audio"] + coverage["with_text"] == 0:
        raise DataError("no training clip has a spoken or written instruction; check data.speech_dir and the descriptions")


def export_model(run_dir: Path, out_dir: Path, half: bool, sample_overrides: Sequence[str] = (),
                 listener_run: Path | None = None, stage_runs: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Copy the finished models of a run (or of an exported model folder) into `out_dir` as
    <kind>.pt without training state (fp16 weights with `half`), checking they belong together;
    every model ships with the sampling settings of `run_dir`'s generator, changed by the
    `sample.KEY=VALUE` overrides (chosen on the val split: benchmarks/sampling_sweep.py);
    `stage_runs` supplies some stages' models from other runs instead (ones fine-tuned with
    `saymotion train STAGE --init-from`; a generator's run also supplies the listener's logs), never
    their sampling settings, which are their run config's defaults rather than the ones chosen for
    the model; `listener_run` gives the generator the meaning head of that run's listener.
    The generator alone decides which motion is made; the residual transformer and length predictor
    keep the listener they were trained with (a frame reader in all three would take the shipped
    model over 40 MB)."""
    stage_runs = dict(stage_runs or {})
    checkpoints = {kind: load_checkpoint(path, kind) for kind, path in model_files(run_dir).items()}
    sample = override_sampling(checkpoints["generator"].config.sample, sample_overrides)
    if sample.meaning_snap > 0 and not (run_dir / MEANINGS_FILE).is_file():
        raise ConfigError(f"sample.meaning_snap = {sample.meaning_snap:g} needs known meanings: run `saymotion train "
                          f"meanings --run {run_dir}` first")
    checkpoints.update({kind: load_checkpoint(model_file(folder, kind), kind) for kind, folder in stage_runs.items()})
    check_same_tokenizer(checkpoints)
    if listener_run is not None:
        listener = load_checkpoint(run_file(listener_run, "listener"), "listener")
        checkpoints["generator"] = with_listener(checkpoints["generator"], listener)
    paths = {}
    for kind, checkpoint in checkpoints.items():
        checkpoint.config = dataclasses.replace(checkpoint.config, sample=sample)
        paths[kind] = exported_file(out_dir, kind)
        save_checkpoint(paths[kind], checkpoint, half=half, resumable=False)
    write_json(out_dir / "config.json", exported_config(checkpoints))
    _copy_known_meanings(run_dir, out_dir)
    sources = {kind: run_dir for kind in TRAINING_STAGES} | stage_runs
    if "generator" in stage_runs:
        sources["listener"] = stage_runs["generator"]
    if listener_run is not None:
        sources["listener"] = listener_run
    _copy_logs(sources, out_dir / "logs")
    return paths


def _copy_known_meanings(run_dir: Path, out_dir: Path) -> None:
    """The run's known meanings go with its models."""
    known, copy = run_dir / MEANINGS_FILE, out_dir / MEANINGS_FILE
    if known.is_file() and known.resolve() != copy.resolve():
        with atomic_path(copy) as tmp:
            shutil.copyfile(known, tmp)


def write_known_meanings(run_dir: Path, speech: Path | None, config: KnownMeaningsConfig) -> Path:
    """RUN/meanings.pt for the finished run or exported model in `run_dir`, from the texts of the
    training split of `speech` (default: the generator's data.speech_dir) of the kinds it trained on."""
    generator = load_checkpoint(model_file(run_dir, "generator"), "generator")
    if not generator.config.condition.has_meaning_token:
        raise ConfigError(f"{run_dir}: known meanings need a model with a meaning token (condition.align_weight > 0)")
    speech = speech or speech_dir(generator.config)
    kinds = generator.config.data.instruction_kinds
    texts = spoken_training_texts(speech, kinds)
    meanings = build_known_meanings(texts, config, {"speech_dir": speech.name, "split": "train", "kinds": list(kinds)})
    path = run_dir / MEANINGS_FILE
    save_known_meanings(path, meanings)
    return path


# Weights of a listener's frame reader inside a conditioned model (condition.meaning_layers > 0).
FRAME_READER_PREFIX = "condition.meaning_frames."
# Condition settings that belong to the listener alone: a replacement listener brings its own.
LISTENER_OWN_SETTINGS = ("meaning_layers", "listener_contrast", "listener_temperature")


def with_listener(checkpoint: Checkpoint, listener: Checkpoint) -> Checkpoint:
    """`checkpoint`, a conditioned model trained with a listener, with `listener`'s meaning head in
    place of its own. The new listener must read the frames itself (condition.meaning_layers > 0):
    one that reads audio tokens fits only the audio encoder it was trained with."""
    if listener.config.condition.meaning_layers == 0:
        raise DataError("--listener-run: its listener reads the audio encoder it was trained with "
                        "(condition.meaning_layers = 0), so it cannot replace another model's")
    own = {name: getattr(listener.config.condition, name) for name in LISTENER_OWN_SETTINGS}
    config = dataclasses.replace(
        checkpoint.config, condition=dataclasses.replace(checkpoint.config.condition, **own),
        data=dataclasses.replace(checkpoint.config.data, unheard_voices=listener.config.data.unheard_voices,
                                 unheard_phrasing=listener.config.data.unheard_phrasing),
        train=dataclasses.replace(checkpoint.config.train, listener=listener.config.train.listener),
    )  # fmt: skip
    differences = listener_differences(listener, config, checkpoint.dims.audio_dim)
    if not checkpoint.config.condition.listener:
        differences.append("condition.listener")
    if differences:
        raise DataError(f"--listener-run: its listener was trained with other settings than the {checkpoint.kind} "
                        f"model ({', '.join(differences)})")
    model = build_model(checkpoint.kind, config, checkpoint.dims)
    load_weights_but_frame_reader(model, checkpoint.model.state_dict(),
                                  f"--listener-run: the {checkpoint.kind} model", frame_reader_follows=True)
    model.condition.load_listener(listener.model)
    return dataclasses.replace(checkpoint, config=config, model=model.eval(), id=uuid.uuid4().hex)


def exported_config(checkpoints: dict[str, Checkpoint]) -> dict:
    """The generator's config (the listener's training settings included) with each exported
    stage's own model section and training settings as that stage ran them: a stage retrained with
    other settings records them, its siblings keep theirs."""
    config = config_to_dict(checkpoints["generator"].config)
    for kind, checkpoint in checkpoints.items():
        own = config_to_dict(checkpoint.config)
        config[kind] = own[kind]
        config["train"][kind] = own["train"][kind]
    return config


def _copy_logs(sources: dict[str, Path], logs_dir: Path) -> None:
    """The training and validation logs of every stage, from the run or model folder it came from,
    so an exported model shows how it was made."""
    for kind, folder in sources.items():
        for name, log in _stage_logs(folder, kind).items():
            with atomic_open(logs_dir / f"{kind}-{name}", "w", encoding="utf-8") as handle:
                handle.write(log.read_text(encoding="utf-8"))


def _stage_logs(folder: Path, kind: str) -> dict[str, Path]:
    """A stage's logs by file name: RUN/<kind>/*.csv in a run folder, logs/<kind>-*.csv in an exported one."""
    if (folder / kind).is_dir():
        return {log.name: log for log in sorted((folder / kind).glob("*.csv"))}
    return {log.name.removeprefix(f"{kind}-"): log for log in sorted((folder / "logs").glob(f"{kind}-*.csv"))}
