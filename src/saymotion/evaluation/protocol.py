"""`saymotion eval run`: the text-to-motion protocol of Guo et al. (2022), as MoMask reports it,
for one way of instructing the model.

Instructions are the oral ones (what a user would say): for `text` the split's oral descriptions;
for `audio` the corpus utterances of those texts in the split, which for test and test_novel are
spoken only by held-out voices; `both` gives an utterance together with the text it speaks;
`cascade` transcribes the utterance (saymotion.evaluation.cascade) and gives the transcript to the
text path. The evaluator's text side is always the instruction's true text.

One repetition, seeded by its number: every clip of the split gets one of its instructions at
random and one motion generated at the clip's length (capped at the model's maximum; MoMask
evaluates with ground-truth lengths too, --predicted-length uses the length predictor instead).
In the evaluator's embedding space that set gives FID against the split's real motion,
R-precision top 1-3 in shuffled batches, MM-Dist and Diversity; the classifiers give action and
style accuracy (action accuracy also per action, with each action's clip count), and the joints
the foot-skating ratio and the detail errors: for the instructions that state a distance, a step
count, a turn or a duration (descriptions.jsonl `claims`), how far the same detail measured on the
motion is from it (metrics.detail_errors; with the clips' own lengths the duration error is only
the rounding of "about 4 seconds"). MultiModality takes `mm_samples` motions
for each of `mm_conditions` random clips. Every metric is reported as the mean over the
repetitions with its 95% interval.

The "real" row scores the split's real motion the same way: retrieval of real motion from the
instruction texts, classifier accuracy, diversity and skating of real data; its FID compares the
split's real motion with the val split's (the test split's when val is evaluated, as it is for
choosing sampling settings), the distance between two independent real samples.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from saymotion.config import AUDIO as AUDIO_INPUT
from saymotion.config import TEXT as TEXT_INPUT
from saymotion.config import SampleConfig, config_to_dict, downsampling_factor, override_sampling, prepared_dir, speech_dir
from saymotion.datasets.prepared import PreparedDataset
from saymotion.descriptions.grammar import STEP_FRAMES
from saymotion.errors import SaymotionError
from saymotion.evaluation import metrics
from saymotion.evaluation.cascade import CASCADE_ASR, Transcripts, transcribe
from saymotion.evaluation.evaluator import Evaluator, MotionEvaluation
from saymotion.evaluation.provenance import config_sha256, git_commit, prepared_sha256, speech_sha256
from saymotion.generate import GeneratedMotion, MotionGenerator
from saymotion.representation import features_to_joints
from saymotion.skeleton import TARGET_FPS
from saymotion.training.sources import SpeechCorpus

AUDIO, TEXT, BOTH, CASCADE = "audio", "text", "both", "cascade"
CONDITIONS = (AUDIO, TEXT, BOTH, CASCADE)
INSTRUCTION_KIND = "oral"
# Which oral instructions: all, or only the short step commands a multi-step recording is cut into
# ("Then bow."; train and val clips have them, test clips none), which Table 3 cannot see.
ALL_ORAL, STEP_COMMANDS = "oral", "steps"
STEP_TEMPLATES = frozenset(frame.id for frame in STEP_FRAMES)  # descriptions.jsonl `template` of a step command
GENERATION_BATCH = 32  # instructions sampled together: batching, not the protocol, sets the speed
Item = TypeVar("Item")


@dataclass(frozen=True)
class Protocol:
    repetitions: int = 20
    max_clips: int = 0  # evaluate a seeded random subset of this many clips (0: every clip of the split)
    r_precision_batch: int = metrics.R_PRECISION_BATCH
    diversity_pairs: int = metrics.DIVERSITY_PAIRS
    mm_conditions: int = 100
    mm_samples: int = 30
    mm_pairs: int = metrics.MULTIMODALITY_PAIRS

    def __post_init__(self) -> None:
        if self.repetitions < 1:
            raise SaymotionError(f"the number of repetitions must be at least 1, got {self.repetitions}")
        if min(self.r_precision_batch, self.diversity_pairs, self.mm_conditions, self.mm_pairs) < 1 or self.max_clips < 0:
            raise SaymotionError("protocol counts must be positive")
        if self.mm_samples < max(2, self.mm_pairs):
            raise SaymotionError("MultiModality needs at least as many samples per condition as pairs (and 2)")


FULL_PROTOCOL = Protocol()
# A smoke test of the whole path: 3 repetitions on a few clips, every count shrunk to fit.
QUICK_PROTOCOL = Protocol(repetitions=3, max_clips=12, r_precision_batch=4, diversity_pairs=10,
                          mm_conditions=2, mm_samples=4, mm_pairs=2)  # fmt: skip


def protocol_from_options(quick: bool = False, repetitions: int | None = None, mm_conditions: int | None = None) -> Protocol:
    """The protocol that `saymotion eval run`'s options name: the full one (or the quick smoke test)
    with the counts given; a count below 1 is refused by the protocol itself."""
    protocol = QUICK_PROTOCOL if quick else FULL_PROTOCOL
    counts = {"repetitions": repetitions, "mm_conditions": mm_conditions}
    return dataclasses.replace(protocol, **{name: value for name, value in counts.items() if value is not None})


def reference_split(split: str) -> str:
    """The real sample the real row's FID is measured against: another split than the one evaluated."""
    return "test" if split == "val" else "val"


@dataclass(frozen=True)
class Instruction:
    text: str  # what is written or said: the evaluator's text side
    utterance: str | None  # speech corpus id, for the spoken conditions


@dataclass(frozen=True)
class TestClip:
    id: str
    action: str
    style: str
    frames: int
    instructions: tuple[Instruction, ...]


def test_clips(dataset: PreparedDataset, split: str, condition: str, speech: SpeechCorpus | None,
               instructions: str = ALL_ORAL) -> list[TestClip]:
    """The split's clips that have at least one instruction of the set for `condition`, in split order."""
    texts: dict[str, list[str]] = defaultdict(list)  # the written instructions of the set, by clip
    for description in dataset.descriptions(split):
        step = description.template in STEP_TEMPLATES
        if description.kind == INSTRUCTION_KIND and (instructions == ALL_ORAL or step):
            texts[description.clip].append(description.text)
    by_clip: dict[str, list[Instruction]] = defaultdict(list)
    if condition == TEXT:
        for clip, clip_texts in texts.items():
            by_clip[clip] = [Instruction(text, None) for text in clip_texts]
    else:
        for utterance in speech.split(split):
            if utterance.kind == INSTRUCTION_KIND:
                for clip in utterance.clips:
                    if instructions == ALL_ORAL or utterance.text in texts[clip]:
                        by_clip[clip].append(Instruction(utterance.text, utterance.id))
    clips = []
    for clip_id in dataset.split_ids(split):
        if by_clip.get(clip_id):
            record = dataset.clips[clip_id]
            clips.append(TestClip(clip_id, record.action, record.style, record.frames, tuple(by_clip[clip_id])))
    if not clips:
        source = "descriptions" if condition == TEXT else f"speech corpus {speech.root}"
        kind = "step-command" if instructions == STEP_COMMANDS else INSTRUCTION_KIND
        raise SaymotionError(f"no {kind} instructions for the {split} split in the {source}")
    return clips


def seeded_subset(items: list[Item], count: int) -> list[Item]:
    """A fixed random `count` of the items (all of them for 0), in their original order."""
    if count == 0 or count >= len(items):
        return items
    keep = np.sort(np.random.default_rng(0).choice(len(items), count, replace=False))
    return [items[i] for i in keep]


class Conditioner:
    """The generator inputs of an instruction under one condition."""

    def __init__(self, condition: str, speech: SpeechCorpus | None, transcripts: Transcripts | None):
        self.condition = condition
        self.speech = speech
        self.transcripts = transcripts

    def __call__(self, instruction: Instruction) -> tuple[np.ndarray | None, str | None]:
        """The (speech features, text) row of `MotionGenerator.generate_rows`."""
        if self.condition == TEXT:
            return None, instruction.text
        if self.condition == CASCADE:  # nothing heard: the cascade gives no instruction (sampled unconditionally)
            return None, self.transcripts.texts[instruction.utterance] or None
        features = self.speech.features(instruction.utterance)
        return features, instruction.text if self.condition == BOTH else None


@dataclass
class EvaluationSetup:
    generator: MotionGenerator
    evaluator: Evaluator
    dataset: PreparedDataset
    split: str
    clips: list[TestClip]
    conditioner: Conditioner
    protocol: Protocol
    sample: SampleConfig  # the sampling settings every motion is generated with
    predicted_length: bool = False
    seed: int = 0


@dataclass
class RealMotion:
    """The evaluator's view of real clips, computed once."""

    features: list[np.ndarray]
    evaluation: MotionEvaluation
    joints: list[np.ndarray]

    @classmethod
    def of(cls, dataset: PreparedDataset, clip_ids: list[str], evaluator: Evaluator) -> RealMotion:
        features = [dataset.load_features(clip) for clip in clip_ids]
        joints = [features_to_joints(f, dataset.skeleton) for f in features]
        return cls(features, evaluator.evaluate_motions(features), joints)

    def rows(self, order: np.ndarray) -> tuple[MotionEvaluation, list[np.ndarray]]:
        evaluation = MotionEvaluation(
            self.evaluation.embeddings[order], [self.evaluation.actions[i] for i in order],
            [self.evaluation.styles[i] for i in order],
        )  # fmt: skip
        return evaluation, [self.joints[i] for i in order]


def motion_scores(
    evaluation: MotionEvaluation, joints: list[np.ndarray], feet: tuple[int, ...], clips: list[TestClip],
    texts: np.ndarray, reference: np.ndarray, rng: np.random.Generator, protocol: Protocol,
) -> dict[str, float]:  # fmt: skip
    """The metrics of one set of motions, row i made for clips[i] with instruction text embedding texts[i]."""
    top = metrics.r_precision(texts, evaluation.embeddings, protocol.r_precision_batch)
    return {
        "fid": metrics.frechet_distance(reference, evaluation.embeddings),
        **{f"r_precision_top{k}": float(top[k - 1]) for k in range(1, len(top) + 1)},
        "mm_dist": metrics.matching_distance(texts, evaluation.embeddings),
        "diversity": metrics.diversity(evaluation.embeddings, rng, protocol.diversity_pairs),
        "action_accuracy": float(np.mean([p == c.action for p, c in zip(evaluation.actions, clips)])),
        "style_accuracy": float(np.mean([p == c.style for p, c in zip(evaluation.styles, clips)])),
        "foot_skating_ratio": metrics.foot_skating_ratio(joints, feet),
    }


def accuracy_by_label(predicted: list[str], labels: list[str]) -> dict[str, float]:
    """The share of rows predicted right, for each true label: where an overall accuracy is lost."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for guess, label in zip(predicted, labels, strict=True):
        hits[label].append(guess == label)
    return {label: float(np.mean(rows)) for label, rows in sorted(hits.items())}


@dataclass(frozen=True)
class RepetitionScores:
    generated: dict[str, float]
    real: dict[str, float]
    action_accuracy_by_action: dict[str, dict[str, float]]  # "generated"/"real" -> action -> accuracy


class ProtocolRun:
    """Generates and scores the repetitions of one evaluation."""

    def __init__(self, setup: EvaluationSetup):
        self.setup = setup
        protocol = setup.protocol
        if len(setup.clips) < protocol.r_precision_batch:
            raise SaymotionError(
                f"the {setup.split} split has {len(setup.clips)} clips to evaluate, fewer than one R-precision batch "
                f"of {protocol.r_precision_batch}"
            )
        evaluator = setup.evaluator
        self.real = RealMotion.of(setup.dataset, [c.id for c in setup.clips], evaluator)
        reference_ids = seeded_subset(setup.dataset.split_ids(reference_split(setup.split)), protocol.max_clips)
        self.reference = evaluator.evaluate_motions([setup.dataset.load_features(c) for c in reference_ids]).embeddings
        texts = sorted({i.text for c in setup.clips for i in c.instructions})
        self.text_embeddings = dict(zip(texts, evaluator.embed_texts(texts)))
        self.claims = {d.text: d.claims for d in setup.dataset.descriptions(setup.split)}
        self.generation_seconds = 0.0
        self.generated_motions = 0

    def repetition(self, number: int) -> RepetitionScores:
        """The generated and the real row's scores of repetition `number`."""
        setup, protocol = self.setup, self.setup.protocol
        rng = np.random.default_rng([setup.seed, number])
        order = rng.permutation(len(setup.clips))  # shuffles the R-precision batches
        clips = [setup.clips[i] for i in order]
        chosen = [c.instructions[rng.integers(0, len(c.instructions))] for c in clips]
        texts = np.stack([self.text_embeddings[i.text] for i in chosen])
        features, joints, feet = [], [], ()
        for start in range(0, len(clips), GENERATION_BATCH):
            batch = slice(start, start + GENERATION_BATCH)
            motion = self._generate(clips[batch], chosen[batch], int(rng.integers(0, 2**31)))
            features += motion.features
            joints += motion.joints
            feet = motion.skeleton.feet
        evaluation = setup.evaluator.evaluate_motions(features)
        generated = motion_scores(evaluation, joints, feet, clips, texts, self.real.evaluation.embeddings, rng, protocol)
        generated["multimodality"] = self._multimodality(clips, chosen, rng)
        real_evaluation, real_joints = self.real.rows(order)
        real = motion_scores(real_evaluation, real_joints, setup.dataset.skeleton.feet, clips, texts, self.reference,
                             rng, protocol)  # fmt: skip
        stated = [self.claims.get(i.text) for i in chosen]
        generated.update(metrics.detail_errors(joints, stated, setup.dataset.skeleton, TARGET_FPS))
        real.update(metrics.detail_errors(real_joints, stated, setup.dataset.skeleton, TARGET_FPS))
        actions = [c.action for c in clips]
        by_action = {"generated": accuracy_by_label(evaluation.actions, actions),
                     "real": accuracy_by_label(real_evaluation.actions, actions)}  # fmt: skip
        return RepetitionScores(generated, real, by_action)

    def instructions_stating(self) -> dict[str, int]:
        """How many of the split's instructions state each detail that has an error metric."""
        stated = Counter(kind for clip in self.setup.clips for i in clip.instructions for kind in self.claims.get(i.text) or {})
        return {kind: stated[kind] for kind in metrics.DETAIL_ERRORS}

    def _multimodality(self, clips: list[TestClip], chosen: list[Instruction], rng: np.random.Generator) -> float:
        protocol = self.setup.protocol
        picks = rng.choice(len(clips), min(protocol.mm_conditions, len(clips)), replace=False)
        samples = []
        for index in picks:
            repeated = protocol.mm_samples
            motion = self._generate([clips[index]] * repeated, [chosen[index]] * repeated, int(rng.integers(0, 2**31)))
            samples.append(self.setup.evaluator.evaluate_motions(motion.features).embeddings)
        return metrics.multimodality(np.stack(samples), rng, protocol.mm_pairs)

    def _generate(self, clips: list[TestClip], instructions: list[Instruction], seed: int) -> GeneratedMotion:
        """One motion per (clip, instruction), sampled as one batch."""
        setup = self.setup
        seconds = None if setup.predicted_length else [clip_seconds(setup.generator, c.frames) for c in clips]
        rows = [setup.conditioner(instruction) for instruction in instructions]
        started = time.perf_counter()
        motion = setup.generator.generate_rows(rows, seconds=seconds, seed=seed, sample=setup.sample,
                                                unconditional=setup.conditioner.condition == CASCADE)
        self.generation_seconds += time.perf_counter() - started
        self.generated_motions += len(rows)
        return motion


def clip_seconds(generator: MotionGenerator, frames: int) -> float:
    """A clip's length as a generation length: at least one token, at most the model's maximum."""
    factor = downsampling_factor(generator.config)
    return min(max(frames, factor), generator.config.data.max_frames) / TARGET_FPS


def evaluate(setup: EvaluationSetup, progress: bool = True) -> dict[str, Any]:
    """Every repetition's scores, aggregated into mean and 95% interval per metric."""
    from tqdm import tqdm

    run = ProtocolRun(setup)
    numbers = tqdm(range(setup.protocol.repetitions), desc="repetitions", disable=not progress)
    scores = [run.repetition(number) for number in numbers]
    return {
        "generated": aggregate([score.generated for score in scores]),
        "real": aggregate([score.real for score in scores]),
        "action_accuracy_by_action": {
            row: aggregate([score.action_accuracy_by_action[row] for score in scores]) for row in ("generated", "real")
        },
        "clips_by_action": dict(sorted(Counter(clip.action for clip in setup.clips).items())),
        "instructions_stating": run.instructions_stating(),
        "generation": {
            "seconds": run.generation_seconds,
            "motions": run.generated_motions,
            "seconds_per_motion": run.generation_seconds / run.generated_motions,
        },
    }


def aggregate(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each metric over the repetitions that have it (a detail error needs an instruction stating it)."""
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: metrics.Interval.of([row[name] for row in rows if name in row]).to_dict() for name in names}


def provenance(setup: EvaluationSetup, model_dir: Path, evaluator_path: Path, speech: SpeechCorpus | None) -> dict[str, Any]:
    """Where the numbers come from: code commit, model and evaluator configs, data digests."""
    model_config = config_to_dict(setup.generator.config)
    evaluator = setup.evaluator.checkpoint
    evaluator_config = dataclasses.asdict(evaluator.config)
    data_sha256 = prepared_sha256(setup.dataset.root)
    return {
        "commit": git_commit(),
        "model": {
            "path": str(model_dir),
            "ids": {kind: checkpoint.id for kind, checkpoint in setup.generator.checkpoints.items()},
            "config": model_config,
            "config_sha256": config_sha256(model_config),
        },
        "evaluator": {
            "path": str(evaluator_path),
            "step": evaluator.step,
            "config": evaluator_config,
            "config_sha256": config_sha256(evaluator_config),
            "validation": evaluator.metrics,
            "trained_on_this_data": evaluator.data_sha256 == data_sha256,
        },
        "data": {
            "prepared": str(setup.dataset.root),
            "prepared_sha256": data_sha256,
            "speech": None if speech is None else str(speech.root),
            "speech_sha256": None if speech is None else speech_sha256(speech.root, setup.generator.speech_encoder),
        },
    }


@dataclass(frozen=True)
class EvaluationRequest:
    """What `saymotion eval run` evaluates: a model under one condition with one protocol."""

    model_dir: Path
    evaluator_path: Path
    condition: str
    protocol: Protocol = FULL_PROTOCOL
    split: str = "test"
    data: Path | None = None  # default: the model's data.prepared_dir
    speech: Path | None = None  # default: the model's data.speech_dir
    predicted_length: bool = False
    seed: int = 0
    threads: int = 0  # for the cascade's speech recogniser (0: its default)
    sample_overrides: tuple[str, ...] = ()  # `sample.KEY=VALUE`: sampling settings other than the model's
    instructions: str = ALL_ORAL  # or STEP_COMMANDS


def run_evaluation(request: EvaluationRequest, device: torch.device, progress: bool = True) -> dict[str, Any]:
    """The report of one evaluation: scores, generation time, provenance (and the transcription's, for the cascade)."""
    generator = MotionGenerator.load(request.model_dir, device)
    needed = {AUDIO: [AUDIO_INPUT], TEXT: [TEXT_INPUT], BOTH: [AUDIO_INPUT, TEXT_INPUT], CASCADE: [TEXT_INPUT]}[request.condition]
    missing = [m for m in needed if m not in generator.modalities]
    if missing:
        raise SaymotionError(
            f"the model was not trained on {' and '.join(missing)}; it cannot be evaluated with --condition {request.condition}"
        )
    sample = override_sampling(generator.config.sample, request.sample_overrides)
    evaluator = Evaluator.load(request.evaluator_path, device)
    dataset = PreparedDataset(request.data or prepared_dir(generator.config))
    if len(evaluator.checkpoint.mean) != dataset.feature_dim:
        raise SaymotionError(
            f"the evaluator takes {len(evaluator.checkpoint.mean)}-d features, the dataset has {dataset.feature_dim}"
        )
    speech = None
    if request.condition != TEXT:
        speech = SpeechCorpus(request.speech or speech_dir(generator.config), generator.speech_encoder)
    clips = seeded_subset(test_clips(dataset, request.split, request.condition, speech, request.instructions),
                          request.protocol.max_clips)
    transcripts = None
    if request.condition == CASCADE:
        utterances = {i.utterance for c in clips for i in c.instructions}
        transcripts = transcribe(speech.root, [u for u in speech.utterances if u.id in utterances], request.threads)
    setup = EvaluationSetup(generator, evaluator, dataset, request.split, clips,
                            Conditioner(request.condition, speech, transcripts), request.protocol, sample,
                            predicted_length=request.predicted_length, seed=request.seed)  # fmt: skip
    report = {
        "condition": request.condition,
        "split": request.split,
        "instructions": request.instructions,
        "clips": len(clips),
        "protocol": dataclasses.asdict(request.protocol),
        "sample": dataclasses.asdict(sample),
        "lengths": "predicted" if request.predicted_length else "ground truth",
        **evaluate(setup, progress=progress),
        **provenance(setup, Path(request.model_dir).resolve(), Path(request.evaluator_path).resolve(), speech),
    }
    if transcripts is not None:
        report["transcription"] = {
            "model": CASCADE_ASR,
            "seconds": transcripts.seconds,
            "audio_seconds": transcripts.audio_seconds,
            "utterances": len(transcripts.texts),
            "word_error_rate": transcripts.word_error_rate,
            "empty_transcripts": transcripts.empty,
        }
    return report
