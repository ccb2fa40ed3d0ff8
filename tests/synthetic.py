"""A tiny synthetic prepared dataset and speech corpus in the documented layouts (real kinematics:
a skeleton with Bandai's joints waving either hand or walking), and a tiny model trained on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from saymotion import fileio
from saymotion.bvh import SkeletalMotion
from saymotion.representation import motion_to_features
from saymotion.skeleton import BANDAI_JOINT_NAMES, BANDAI_PARENTS, TARGET_FPS, Skeleton

LEFT_SIDE_OFFSETS = {
    "Hips": (0, 0, 0), "Spine": (0, 0.1, 0), "Chest": (0, 0.15, 0), "Neck": (0, 0.2, 0), "Head": (0, 0.1, 0),
    "Shoulder_L": (0.05, 0.15, 0), "UpperArm_L": (0.12, 0, 0), "LowerArm_L": (0.28, 0, 0), "Hand_L": (0.25, 0, 0),
    "UpperLeg_L": (0.1, -0.05, 0), "LowerLeg_L": (0, -0.42, 0), "Foot_L": (0, -0.4, 0), "Toes_L": (0, -0.05, 0.12),
}  # fmt: skip
ACTIONS = {"wave-left-hand": "waves the left hand", "wave-right-hand": "waves the right hand", "walk": "walks forward"}
STYLES = {"normal": 1.0, "elderly": 0.5}


def synthetic_skeleton() -> Skeleton:
    offsets = []
    for name in BANDAI_JOINT_NAMES:
        if name.endswith("_R"):
            x, y, z = LEFT_SIDE_OFFSETS[name[:-2] + "_L"]
            offsets.append((-x, y, z))
        else:
            offsets.append(LEFT_SIDE_OFFSETS[name])
    return Skeleton.build(BANDAI_JOINT_NAMES, BANDAI_PARENTS, np.array(offsets, dtype=float))


def synthetic_features(skeleton: Skeleton, action: str, energy: float, frames: int, rng: np.random.Generator) -> np.ndarray:
    seconds = np.arange(frames) / TARGET_FPS
    phase = rng.uniform(0, 2 * np.pi)
    rotvecs = 0.03 * rng.standard_normal((frames, len(BANDAI_JOINT_NAMES), 3)).cumsum(0) / np.sqrt(frames)
    root = np.stack([np.zeros(frames), np.full(frames, 0.95), np.zeros(frames)], 1)
    if action.startswith("wave"):
        arm = BANDAI_JOINT_NAMES.index("UpperArm_L" if "left" in action else "UpperArm_R")
        rotvecs[:, arm, 2] += (1 if "left" in action else -1) * energy * (1.2 + 0.6 * np.sin(2 * np.pi * 1.5 * seconds + phase))
    else:
        for side, sign in (("L", 1), ("R", -1)):
            rotvecs[:, BANDAI_JOINT_NAMES.index(f"UpperLeg_{side}"), 0] += sign * 0.4 * energy * np.sin(2 * np.pi * seconds + phase)
        root[:, 2] = 1.2 * energy * seconds
    quats = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_quat().reshape(frames, -1, 4)
    return motion_to_features(SkeletalMotion(skeleton, quats, root, float(TARGET_FPS)))


def make_prepared_dataset(root: Path, takes: int = 4, seed: int = 0) -> Path:
    """The documented prepared layout: takes 0..takes-3 train, then one val and one test take per pair."""
    rng = np.random.default_rng(seed)
    skeleton = synthetic_skeleton()
    clips, descriptions, splits = [], [], {"train": [], "val": [], "test": [], "test_novel": []}
    features = {}
    for action, phrase in ACTIONS.items():
        for style, energy in STYLES.items():
            for take in range(takes):
                clip = f"dataset-2_{action}_{style}_{take:03d}"
                frames = int(rng.integers(36, 72))
                features[clip] = synthetic_features(skeleton, action, energy, frames, rng)
                fileio.save_npz(root / "motions" / f"{clip}.npz", features=features[clip],
                                joints=np.zeros((frames, 21, 3), np.float32), offsets=skeleton.offsets)
                split = "train" if take < takes - 2 else ("val" if take == takes - 2 else "test")
                splits[split].append(clip)
                clips.append({"id": clip, "dataset": "dataset-2", "action": action, "style": style, "source": f"{clip}.bvh",
                              "frames": frames, "seconds": frames / TARGET_FPS, "details": {}})
                seconds = max(1, round(frames / TARGET_FPS))
                for kind, text, claims in (("original", f"a person {phrase}", {}),
                                           ("oral", f"{phrase} like an {style} person for {seconds} seconds", {"duration_s": seconds})):
                    descriptions.append({"id": f"{clip}:{kind}", "clip": clip, "kind": kind, "text": text,
                                         "template": None, "split": split, "claims": claims})
    train = np.concatenate([features[c] for c in splits["train"]])
    fileio.save_npy(root / "mean.npy", train.mean(0).astype(np.float32))
    fileio.save_npy(root / "std.npy", np.maximum(train.std(0), 1e-3).astype(np.float32))
    fileio.write_json(root / "skeleton.json", skeleton.to_dict())
    fileio.write_jsonl(root / "clips.jsonl", clips)
    fileio.write_jsonl(root / "descriptions.jsonl", descriptions)
    for name, ids in splits.items():
        (root / "splits").mkdir(parents=True, exist_ok=True)
        (root / "splits" / f"{name}.txt").write_text("".join(f"{c}\n" for c in ids))
    fileio.write_json(root / "stats.json", {"clips": len(clips), "fps": TARGET_FPS, "novel_pairs": []})
    return root


SPEECH_DIM = 8


def make_speech_corpus(root: Path, prepared: Path, per_description: int = 1, seed: int = 0, dim: int = SPEECH_DIM) -> Path:
    """The documented speech layout (manifest + sharded fp16 features + index) with stand-in
    encoder features: noise plus a direction that depends on the spoken action."""
    rng = np.random.default_rng(seed)
    actions = sorted(ACTIONS)
    rows, frames, locations, start = [], [], {}, 0
    for number, description in enumerate(fileio.read_jsonl(prepared / "descriptions.jsonl")):
        action = next(a for a in actions if ACTIONS[a] in description["text"])
        for take in range(per_description):
            utterance = f"u{number:05d}-{take}"
            count = int(rng.integers(10, 40))
            features = rng.standard_normal((count, dim))
            features[:, actions.index(action)] += 3.0
            frames.append(features.astype(np.float16))
            locations[utterance] = [0, start, count]
            start += count
            rows.append({"id": utterance, "path": f"audio/{utterance}.wav", "clips": [description["clip"]],
                         "text": description["text"], "kind": description["kind"], "split": description["split"],
                         "engine": "test", "voice": f"voice-{number % 3}", "augment": None, "duration": count / 50,
                         "sample_rate": 16000, "sha256": "0" * 64})
    fileio.write_jsonl(root / "manifest.jsonl", rows)
    folder = root / "features" / "whisper-base"
    fileio.save_npy(folder / "shard-00000.npy", np.concatenate(frames))
    fileio.write_json(folder / "index.json", {"encoder": "whisper-base", "dim": dim, "frame_rate": 50.0,
                                              "weights_sha256": "0" * 64, "dtype": "float16",
                                              "shards": ["shard-00000.npy"], "utterances": locations})
    return root
