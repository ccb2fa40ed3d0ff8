"""Typed experiment configuration.

A config is a tree of dataclasses read from TOML. Files compose: a file may name other files in
`extends` (paths relative to itself) whose tables it overrides key by key, and `--set a.b=value`
overrides single keys on the command line. Every checkpoint stores the whole tree as a plain dict
and `config_from_dict` rebuilds it, so a model is always rebuilt with the settings it was trained
with, whatever the current files say.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saymotion import settings
from saymotion.errors import SaymotionError

AUDIO = "audio"
TEXT = "text"
MODALITIES = (AUDIO, TEXT)
AUDIO_ENCODERS = ("memory", "avgpool", "conv1d", "transformer_cls")
POSITION_ENCODINGS = ("sinusoidal", "learned")
INSTRUCTION_KINDS = ("original", "oral")  # written captions, and spoken-style rewrites of them
STAGES = ("tokenizer", "generator", "residual", "length")  # the models a trained model folder holds
# Training order; the listener pretrains the speech part of the condition (condition.listener).
TRAINING_STAGES = ("tokenizer", "listener", "generator", "residual", "length")


class ConfigError(SaymotionError):
    """A configuration file or override is malformed."""


@dataclass
class DataConfig:
    # Empty paths mean the defaults of saymotion.settings; relative paths are relative to the
    # config file that set them (never to the working directory).
    prepared_dir: str = ""
    speech_dir: str = ""
    speech_encoder: str = "whisper-base"
    window_frames: int = 64  # tokenizer training crop (frames at 20 fps), as MoMask
    mirror: bool = True  # the tokenizer also learns every training clip mirrored left/right
    max_frames: int = 196  # longest motion the generator sees or makes (~10 s); longer clips are cropped
    max_audio_frames: int = 1500  # longest speech feature sequence used as a condition
    # Which descriptions (and their utterances) condition the generator stages; one kind alone
    # trains the paper's Table 2 models ("original" vs "oral" descriptions).
    instruction_kinds: list[str] = field(default_factory=lambda: list(INSTRUCTION_KINDS))
    # Transformer batches of clips of similar length (little padding). Lengths follow the action,
    # so such a batch holds few actions; false draws clips uniformly (what the meaning token's
    # alignment needs).
    length_buckets: bool = True
    # The generator stages draw each training clip with weight (clips of its action)^-balance_actions:
    # 0 is uniform over clips, 1 uniform over actions; in between lifts rare actions without
    # repeating their few clips as often as the common ones.
    balance_actions: float = 0.0
    # Voices (shell patterns on the manifest's voice names) the listener stage leaves out of its
    # training and measures apart on the val split (`unheard_*` in its eval log): how it hears
    # voices it never heard, measured without the test split's voices.
    unheard_voices: list[str] = field(default_factory=list)
    # Likewise for phrasing: utterances whose words match one of these shell patterns (case
    # insensitive: "could you *" for a sentence frame, "*take a bow*" for a verb phrase), which
    # measures how it hears wordings it never heard, as the test split's held-out ones are heard.
    unheard_phrasing: list[str] = field(default_factory=list)


@dataclass
class TokenizerConfig:
    num_codes: int = 512
    code_dim: int = 256
    width: int = 256
    down_t: int = 2  # temporal downsampling by 2**down_t
    depth: int = 3  # residual blocks per resolution
    dilation_growth: int = 3
    num_quantizers: int = 6  # base layer + residual layers
    quantize_dropout: float = 0.2  # probability of decoding from a random prefix of the layers
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0  # codes whose EMA usage falls below this are reset
    commitment: float = 0.02  # beta of the commitment loss
    position_weight: float = 1.5  # extra reconstruction weight on the joint-position features


@dataclass
class ConditionConfig:
    modalities: list[str] = field(default_factory=lambda: [AUDIO, TEXT])
    dim: int = 256  # width of the condition tokens
    audio_encoder: str = "memory"  # memory | avgpool | conv1d | transformer_cls (paper Table 6)
    audio_pool: int = 4  # average this many speech frames first (50 Hz Whisper -> 12.5 Hz): 4x cheaper
    audio_tokens: int = 4  # fixed number of audio condition tokens (avgpool: 8/32/64 in Table 6)
    memory_size: int = 256  # learnable memory tokens (paper eq. 1)
    memory_dim: int = 512
    encoder_layers: int = 2
    encoder_heads: int = 4
    dropout: float = 0.1
    # Each modality is dropped independently per training example; dropping both gives the
    # unconditional examples classifier-free guidance needs.
    drop_audio: float = 0.3
    drop_text: float = 0.5
    # Weight of the loss pulling the meaning token towards the MiniLM embedding of the words spoken
    # (saymotion.models.conditioning); 0 (the shipped model) leaves the meaning token out.
    # configs/meaning-token.toml turns it on.
    align_weight: float = 0.0
    # The residual transformer and length predictor start their condition encoder from the run's
    # trained generator, so their short runs begin with speech already understood.
    init_from_generator: bool = False
    # Train the audio encoder and meaning head first, in a stage of their own (`saymotion train
    # listener`) on the alignment alone, then freeze them in the later stages. Needs align_weight > 0.
    listener: bool = False
    # Listener loss: alignment + listener_contrast x a contrastive loss at this temperature, against
    # the batch's other sentences and the sentence with left and right exchanged.
    listener_contrast: float = 1.0
    listener_temperature: float = 0.05
    # 0: the meaning head reads the audio encoder's tokens (and the frames' mean). N > 0: it reads
    # the frames through a transformer of N layers of its own, and the listener leaves the audio
    # encoder to the motion loss (saymotion.models.conditioning, "Frame reader").
    meaning_layers: int = 0
    # Whether the frozen listener's dropout runs while the later stages train (true: as the shipped
    # model was trained). False holds it in eval mode, so they learn on the meaning token that
    # inference gives them.
    listener_dropout: bool = True
    # Whether the motion loss trains the audio encoder in the code stages (true: as the shipped model
    # was trained). False freezes it in eval mode: with a frame-reading listener the speech side is
    # then fixed, and training goes to what reads it (docs/design.md, session 16).
    train_audio_encoder: bool = True
    # Training only: each meaning token is turned off the listener's prediction by a random direction,
    # by an angle whose tangent is drawn from U(0, meaning_noise), before the stage reads it. The listener
    # hears unheard phrasing less exactly than training speech (docs/design.md, session 20); this teaches
    # the stage to read such meanings. 0 (the shipped model) adds none.
    meaning_noise: float = 0.0

    @property
    def has_meaning_token(self) -> bool:
        """Whether the speech side predicts the meaning of the words spoken (the listener's output)."""
        return self.align_weight > 0 and AUDIO in self.modalities


@dataclass
class MaskedTransformerConfig:
    dim: int = 256
    layers: int = 4
    heads: int = 4
    ff_dim: int = 512
    dropout: float = 0.1
    # Fixed sinusoids on the codes' scale (Vaswani et al., MoMask), or learned from 0.02, which the
    # codes' N(0, 1) embeddings drowned: such a generator hardly told where a code stood
    # (models before session 21; docs/design.md).
    positions: str = "sinusoidal"


@dataclass
class ResidualTransformerConfig:
    dim: int = 256
    layers: int = 3
    heads: int = 4
    ff_dim: int = 512
    dropout: float = 0.1


@dataclass
class LengthConfig:
    hidden: int = 256
    dropout: float = 0.1
    # Whether the length predictor reads the audio encoder's tokens beside the meaning token. They
    # gave a short spoken command a second guess of about 2 s that the meaning alone does not
    # (docs/design.md, "Lengths from the meaning of speech").
    read_audio_tokens: bool = True


@dataclass
class TrainConfig:
    steps: int = 5000
    batch_size: int = 64
    lr: float = 2e-4
    warmup_steps: int = 500
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    log_every: int = 50
    checkpoint_every: int = 500
    eval_every: int = 1000
    eval_batches: int = 4


@dataclass
class TrainPlan:
    tokenizer: TrainConfig = field(default_factory=lambda: TrainConfig(steps=4500))
    generator: TrainConfig = field(default_factory=lambda: TrainConfig(steps=3600, warmup_steps=300))
    residual: TrainConfig = field(default_factory=lambda: TrainConfig(steps=500, warmup_steps=200))
    length: TrainConfig = field(default_factory=lambda: TrainConfig(steps=250, lr=1e-3, warmup_steps=50))
    listener: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, lr=3e-4, warmup_steps=100, eval_every=500))


@dataclass
class SampleConfig:
    iterations: int = 10  # MaskGIT decoding steps
    temperature: float = 1.0
    top_k: int = 51  # keep the k most likely codes (0 = all); ~10% of 512 as MoMask
    guidance_audio: float = 4.0  # s in (1 + s) w_c - s w_u
    guidance_text: float = 4.0
    guidance_residual: float = 4.0
    residual_temperature: float = 1.0
    # Logit taken from a masked position's copy of an already decoded neighbour's base code:
    # generated base codes repeat far more than real ones (benchmarks/stage_attribution.py).
    repeat_penalty: float = 0.0
    # MaskGIT's choice temperature: Gumbel noise on the confidence that picks which new codes stay,
    # annealed to 0 over the iterations, so the first ones kept are not all the safest codes.
    choice_noise: float = 0.0
    # Temperature of the length predictor's distribution when a length is drawn (1 draws from it as
    # MoMask, 0 takes the likeliest): an instruction heard between two actions has a second mode at
    # the other action's length, and a wave drawn at a raise's length comes out a raise.
    length_temperature: float = 1.0
    # How far (0-1) the heard meaning of speech moves towards the known meanings nearest it: those of
    # the training split's spoken instructions, a model's meanings.pt (`saymotion train meanings`).
    # The listener hears unheard phrasing inexactly; the generator reads known meanings best.
    # 0 leaves the meaning as heard.
    meaning_snap: float = 0.0


@dataclass(frozen=True)
class KnownMeaningsConfig:
    # k-means centres kept of the training instructions' embeddings; 1,800 int8 rows of 384 keep
    # the shipped model under 40 MB (saymotion.known_meanings)
    count: int = 1800
    seed: int = 0  # of k-means


@dataclass
class ExperimentConfig:
    seed: int = 1234
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)
    generator: MaskedTransformerConfig = field(default_factory=MaskedTransformerConfig)
    residual: ResidualTransformerConfig = field(default_factory=ResidualTransformerConfig)
    length: LengthConfig = field(default_factory=LengthConfig)
    train: TrainPlan = field(default_factory=TrainPlan)
    sample: SampleConfig = field(default_factory=SampleConfig)

    def __post_init__(self) -> None:
        validate(self)


def validate(config: ExperimentConfig) -> None:
    """Cross-field checks that a type check cannot express."""
    kinds = config.data.instruction_kinds
    if not kinds or set(kinds) - set(INSTRUCTION_KINDS):
        raise ConfigError(f"data.instruction_kinds must be a non-empty subset of {list(INSTRUCTION_KINDS)}, got {kinds}")
    if not 0 <= config.data.balance_actions <= 1:
        raise ConfigError(f"data.balance_actions must be between 0 and 1, got {config.data.balance_actions}")
    condition = config.condition
    unknown = set(condition.modalities) - set(MODALITIES)
    if unknown or not condition.modalities:
        raise ConfigError(f"condition.modalities must be a non-empty subset of {list(MODALITIES)}, got {condition.modalities}")
    if not condition.train_audio_encoder and AUDIO not in condition.modalities:
        raise ConfigError("condition.train_audio_encoder = false needs the audio modality")
    if condition.audio_encoder not in AUDIO_ENCODERS:
        raise ConfigError(f"condition.audio_encoder must be one of {list(AUDIO_ENCODERS)}, got {condition.audio_encoder!r}")
    if condition.encoder_heads <= 0 or condition.dim % condition.encoder_heads:
        raise ConfigError("condition.dim must be divisible by condition.encoder_heads")
    if condition.listener and not condition.has_meaning_token:
        raise ConfigError("condition.listener needs the meaning token: audio among condition.modalities and condition.align_weight > 0")
    if not config.length.read_audio_tokens and not condition.has_meaning_token:
        raise ConfigError("length.read_audio_tokens = false needs the meaning token: audio among condition.modalities "
                          "and condition.align_weight > 0")
    if min(condition.audio_tokens, condition.audio_pool, condition.memory_size) < 1:
        raise ConfigError("condition.audio_tokens, audio_pool and memory_size must be at least 1")
    if condition.meaning_layers < 0:
        raise ConfigError(f"condition.meaning_layers must be at least 0, got {condition.meaning_layers}")
    if config.generator.positions not in POSITION_ENCODINGS:
        raise ConfigError(f"generator.positions must be one of {list(POSITION_ENCODINGS)}, got {config.generator.positions!r}")
    for name in ("generator", "residual"):
        section = getattr(config, name)
        if section.dim % section.heads:
            raise ConfigError(f"{name}.dim must be divisible by {name}.heads")
    factor = 2 ** config.tokenizer.down_t
    for name in ("window_frames", "max_frames"):
        if getattr(config.data, name) % factor:
            raise ConfigError(f"data.{name} must be a multiple of the tokenizer downsampling factor {factor}")
    if config.tokenizer.num_quantizers < 2:
        raise ConfigError("tokenizer.num_quantizers must be at least 2 (a base layer and a residual layer)")
    check_sampling(config.sample)


# Guidance scales beyond this only sharpen the logits into one-hot codes.
MAX_GUIDANCE = 20.0


def check_sampling(sample: SampleConfig) -> None:
    """Sampling settings, from a config file or changed later (`override_sampling`, `Pipeline.generate`)."""
    if sample.iterations < 1 or sample.top_k < 0:
        raise ConfigError("sample.iterations must be at least 1 and sample.top_k at least 0")
    for name in ("repeat_penalty", "choice_noise", "length_temperature"):
        if getattr(sample, name) < 0:
            raise ConfigError(f"sample.{name} must be at least 0, got {getattr(sample, name):g}")
    if not 0.0 <= sample.meaning_snap <= 1.0:
        raise ConfigError(f"sample.meaning_snap must be between 0 and 1, got {sample.meaning_snap:g}")
    for name in ("guidance_audio", "guidance_text", "guidance_residual"):
        value = getattr(sample, name)
        if not 0.0 <= value <= MAX_GUIDANCE:
            raise ConfigError(f"{name.replace('_', ' ')} must be between 0 and {MAX_GUIDANCE:g}, got {value:g}")


def downsampling_factor(config: ExperimentConfig) -> int:
    return 2 ** config.tokenizer.down_t


def max_tokens(config: ExperimentConfig) -> int:
    return config.data.max_frames // downsampling_factor(config)


# --- dict <-> dataclass -------------------------------------------------------------------------


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(values: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Build a config from nested dicts, rejecting unknown keys and wrongly typed values."""
    return build_dataclass(ExperimentConfig, values, source, prefix="")


def build_dataclass(cls: type, values: Any, source: str, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'} must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = build_dataclass(kind, value, source, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_scalar(kind, value, source, f"{prefix}{name}")
    return cls(**kwargs)


def _check_scalar(kind: Any, value: Any, source: str, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if isinstance(value, list) and all(isinstance(v, item) for v in value):
            return list(value)
    elif isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"{source}: {key} must be {name}, got {value!r}")


# --- TOML files ---------------------------------------------------------------------------------


def load_config(path: str | os.PathLike | None = None, overrides: typing.Sequence[str] = ()) -> ExperimentConfig:
    """Read a TOML config (with its `extends` chain) and apply `section.key=value` overrides."""
    values = read_config_file(Path(path)) if path is not None else {}
    for override in overrides:
        parsed = parse_override(override)
        _absolutise_data_paths(parsed, Path.cwd())  # a path typed on the command line means the shell's directory
        _deep_merge(values, parsed)
    source = str(path) if path is not None else "defaults"
    return config_from_dict(values, source)


def read_config_file(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The merged tables of `path` and the files it extends, with data paths made absolute."""
    path = path.expanduser().resolve()
    if path in _seen:
        raise ConfigError(f"{path}: circular 'extends'")
    try:
        with open(path, "rb") as handle:
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    parents = values.pop("extends", [])
    if isinstance(parents, str):
        parents = [parents]
    merged: dict[str, Any] = {}
    for parent in parents:
        _deep_merge(merged, read_config_file(path.parent / parent, _seen + (path,)))
    _absolutise_data_paths(values, path.parent)
    _deep_merge(merged, values)
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """`generator.layers=6` -> {"generator": {"layers": 6}}; the value is read as TOML, bare words as strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override must look like section.key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    parts = key.strip().split(".")
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def override_sampling(sample: SampleConfig, overrides: typing.Sequence[str]) -> SampleConfig:
    """`sample` with `sample.KEY=VALUE` overrides: how a model samples can change after training,
    what it learnt cannot."""
    values = {"sample": dataclasses.asdict(sample)}
    for override in overrides:
        parsed = parse_override(override)
        if set(parsed) != {"sample"} or not isinstance(parsed["sample"], dict):
            raise ConfigError(f"only sampling settings can be changed here (sample.KEY=VALUE), got {override!r}")
        _deep_merge(values, parsed)
    return config_from_dict(values, "--set").sample


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _absolutise_data_paths(values: dict[str, Any], directory: Path) -> None:
    data = values.get("data")
    if not isinstance(data, dict):
        return
    for key in ("prepared_dir", "speech_dir"):
        raw = data.get(key)
        if isinstance(raw, str) and raw:
            data[key] = str((directory / Path(os.path.expandvars(raw)).expanduser()).resolve())


def prepared_dir(config: ExperimentConfig) -> Path:
    return Path(config.data.prepared_dir) if config.data.prepared_dir else settings.default_prepared_dir()


def speech_dir(config: ExperimentConfig) -> Path:
    return Path(config.data.speech_dir) if config.data.speech_dir else settings.default_speech_dir()
