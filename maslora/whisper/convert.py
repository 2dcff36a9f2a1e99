"""CTranslate2 Whisper (faster-whisper format) -> a Hugging Face Whisper folder that transformers loads.

Every CTranslate2 variable is either copied onto a transformers weight, split from a fused projection,
or checked as a setting (heads, activation, ...). Anything left over, any weight that transformers
expects but the checkpoint lacks, and any shape mismatch stops the conversion with the names involved.

Fused projections (CTranslate2 stores them stacked along the output rows):
    self_attention/linear_0 = [q; k; v]   attention/linear_1 (cross) = [k; v]
The k bias is zero in CTranslate2 because transformers' k_proj has no bias; we check that it is.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

from maslora.errors import ConversionError
from maslora.whisper.bpe_merges import restore_missing_merges
from maslora.whisper.ctranslate2_format import CTranslate2Model, CTranslate2Variable

ENGLISH_ONLY_VOCAB_SIZE = 51864  # multilingual checkpoints have 51865 (51866 for large-v3)
GELU = 3  # CTranslate2's ActivationType enum value for exact GELU, the only activation Whisper uses

# CTranslate2 flags that must hold for the checkpoint to be an ordinary Whisper.
EXPECTED_FLAGS = {
    "decoder/activation": GELU,
    "decoder/alibi": 0,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
}
# Settings for word-level timestamps that transformers takes from generation_config instead.
IGNORED_SETTINGS = ("decoder/alignment_heads", "decoder/alignment_layer")


@dataclass(frozen=True)
class WhisperDimensions:
    n_mels: int  # 80, or 128 for large-v3
    vocab_size: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn: int
    decoder_ffn: int
    audio_positions: int  # 1500 encoder frames = 30 s
    text_positions: int  # 448 decoder tokens

    @property
    def is_multilingual(self) -> bool:
        return self.vocab_size > ENGLISH_ONLY_VOCAB_SIZE


def _array(variables: dict[str, CTranslate2Variable], name: str) -> np.ndarray:
    if name not in variables:
        raise ConversionError(f"the checkpoint has no variable {name}")
    return variables[name].array


def _layer_count(variables: dict[str, CTranslate2Variable], stack: str) -> int:
    indices = {int(m.group(1)) for name in variables if (m := re.match(rf"{stack}/layer_(\d+)/", name))}
    if indices != set(range(len(indices))):
        raise ConversionError(f"{stack} layers are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def whisper_dimensions(checkpoint: CTranslate2Model) -> WhisperDimensions:
    """Read the model sizes off the tensors themselves, so no size table can drift from the weights."""
    if checkpoint.spec_name != "WhisperSpec":
        raise ConversionError(f"expected a WhisperSpec checkpoint, got {checkpoint.spec_name}")
    if any(name.endswith("weight_scale") for name in checkpoint.variables):
        raise ConversionError("int8-quantized CTranslate2 checkpoints are not supported: use a float16/float32 one")
    variables = checkpoint.variables
    embeddings = _array(variables, "decoder/embeddings/weight")
    return WhisperDimensions(
        n_mels=_array(variables, "encoder/conv1/weight").shape[1],
        vocab_size=embeddings.shape[0],
        d_model=embeddings.shape[1],
        encoder_layers=_layer_count(variables, "encoder"),
        decoder_layers=_layer_count(variables, "decoder"),
        encoder_heads=int(_array(variables, "encoder/num_heads")),
        decoder_heads=int(_array(variables, "decoder/num_heads")),
        encoder_ffn=_array(variables, "encoder/layer_0/ffn/linear_0/weight").shape[0],
        decoder_ffn=_array(variables, "decoder/layer_0/ffn/linear_0/weight").shape[0],
        audio_positions=_array(variables, "encoder/position_encodings/encodings").shape[0],
        text_positions=_array(variables, "decoder/position_encodings/encodings").shape[0],
    )


def _linear(source: str, target: str) -> list[tuple[str, str]]:
    return [(f"{source}/weight", f"{target}.weight"), (f"{source}/bias", f"{target}.bias")]


def _layer_norm(source: str, target: str) -> list[tuple[str, str]]:
    return [(f"{source}/gamma", f"{target}.weight"), (f"{source}/beta", f"{target}.bias")]


def _plain_renames(dims: WhisperDimensions) -> list[tuple[str, str]]:
    """(CTranslate2 name, transformers name) for every variable that maps one-to-one."""
    renames = [
        *_linear("encoder/conv1", "model.encoder.conv1"),
        *_linear("encoder/conv2", "model.encoder.conv2"),
        ("encoder/position_encodings/encodings", "model.encoder.embed_positions.weight"),
        *_layer_norm("encoder/layer_norm", "model.encoder.layer_norm"),
        ("decoder/embeddings/weight", "model.decoder.embed_tokens.weight"),
        ("decoder/position_encodings/encodings", "model.decoder.embed_positions.weight"),
        *_layer_norm("decoder/layer_norm", "model.decoder.layer_norm"),
    ]
    for stack, count in (("encoder", dims.encoder_layers), ("decoder", dims.decoder_layers)):
        for i in range(count):
            source, target = f"{stack}/layer_{i}", f"model.{stack}.layers.{i}"
            renames += _linear(f"{source}/self_attention/linear_1", f"{target}.self_attn.out_proj")
            renames += _layer_norm(f"{source}/self_attention/layer_norm", f"{target}.self_attn_layer_norm")
            renames += _linear(f"{source}/ffn/linear_0", f"{target}.fc1")
            renames += _linear(f"{source}/ffn/linear_1", f"{target}.fc2")
            renames += _layer_norm(f"{source}/ffn/layer_norm", f"{target}.final_layer_norm")
            if stack == "decoder":
                renames += _linear(f"{source}/attention/linear_0", f"{target}.encoder_attn.q_proj")
                renames += _linear(f"{source}/attention/linear_2", f"{target}.encoder_attn.out_proj")
                renames += _layer_norm(f"{source}/attention/layer_norm", f"{target}.encoder_attn_layer_norm")
    return renames


def _fused_projections(dims: WhisperDimensions) -> list[tuple[str, list[str]]]:
    """(CTranslate2 prefix, transformers projections stacked in it, top to bottom)."""
    fused = []
    for stack, count in (("encoder", dims.encoder_layers), ("decoder", dims.decoder_layers)):
        for i in range(count):
            target = f"model.{stack}.layers.{i}"
            fused.append(
                (f"{stack}/layer_{i}/self_attention/linear_0", [f"{target}.self_attn.{p}_proj" for p in "qkv"])
            )
            if stack == "decoder":
                fused.append(
                    (f"{stack}/layer_{i}/attention/linear_1", [f"{target}.encoder_attn.{p}_proj" for p in "kv"])
                )
    return fused


def _to_tensor(variable: CTranslate2Variable) -> torch.Tensor:
    tensor = torch.from_numpy(variable.array.copy())
    return tensor.view(torch.bfloat16) if variable.is_bfloat16 else tensor


def _check_flags(variables: dict[str, CTranslate2Variable]) -> None:
    for name, expected in EXPECTED_FLAGS.items():
        value = int(_array(variables, name))
        if value != expected:
            raise ConversionError(f"{name} is {value}, expected {expected}: not a standard Whisper checkpoint")


def whisper_state_dict(checkpoint: CTranslate2Model, dims: WhisperDimensions) -> dict[str, torch.Tensor]:
    """Map every CTranslate2 variable onto transformers' WhisperForConditionalGeneration state dict."""
    variables = checkpoint.variables
    _check_flags(variables)
    consumed = set(EXPECTED_FLAGS) | set(IGNORED_SETTINGS) | {"encoder/num_heads", "decoder/num_heads"}
    state: dict[str, torch.Tensor] = {}
    for source, target in _plain_renames(dims):
        if source not in variables:
            raise ConversionError(f"the checkpoint has no variable {source} (needed for {target})")
        state[target] = _to_tensor(variables[source])
        consumed.add(source)
    for source, targets in _fused_projections(dims):
        weight = _to_tensor(variables[f"{source}/weight"])
        bias = _to_tensor(variables[f"{source}/bias"])
        if weight.shape[0] != dims.d_model * len(targets) or bias.shape[0] != weight.shape[0]:
            raise ConversionError(
                f"{source} has shape {tuple(weight.shape)}, expected {len(targets)} x {dims.d_model} fused rows"
            )
        for target, weight_rows, bias_rows in zip(targets, weight.split(dims.d_model), bias.split(dims.d_model)):
            state[f"{target}.weight"] = weight_rows
            if target.endswith("k_proj"):
                if torch.any(bias_rows != 0):
                    raise ConversionError(f"{source}: the k part of the bias is not zero, but k_proj has no bias")
            else:
                state[f"{target}.bias"] = bias_rows
        consumed |= {f"{source}/weight", f"{source}/bias"}
    unmapped = sorted(set(variables) - consumed)
    if unmapped:
        raise ConversionError(f"{len(unmapped)} CTranslate2 variables are not mapped: {', '.join(unmapped[:10])}")
    for alias, target in checkpoint.aliases.items():
        if (alias, target) != ("decoder/projection/weight", "decoder/embeddings/weight"):
            raise ConversionError(f"unexpected alias {alias} -> {target}")
    return state


def load_into_model(state: dict[str, torch.Tensor], config: WhisperConfig) -> WhisperForConditionalGeneration:
    """Build the transformers model and load `state`, failing on any missing, extra or mis-shaped tensor."""
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    expected = {name: tuple(p.shape) for name, p in model.state_dict().items() if name != "proj_out.weight"}
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ConversionError(f"state dict mismatch: missing {missing[:10]}, unexpected {extra[:10]}")
    wrong = [
        f"{n}: {tuple(state[n].shape)} vs {shape}" for n, shape in expected.items() if tuple(state[n].shape) != shape
    ]
    if wrong:
        raise ConversionError(f"shape mismatch: {'; '.join(wrong[:10])}")
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()  # proj_out shares the token embedding, as in every released Whisper
    return model


def repaired_tokenizer_json(tokenizer_json: dict) -> dict:
    """The tokenizer.json with lost BPE merges restored (see bpe_merges)."""
    special = {token["content"] for token in tokenizer_json["added_tokens"]}
    model = dict(tokenizer_json["model"])
    model["merges"] = restore_missing_merges(model["vocab"], model["merges"], special)
    return {**tokenizer_json, "model": model}


def special_token_ids(tokenizer_json: dict) -> dict[str, int]:
    return {token["content"]: token["id"] for token in tokenizer_json["added_tokens"]}


def whisper_config(dims: WhisperDimensions, special: dict[str, int], ct2_config: dict) -> WhisperConfig:
    end_of_text = special["<|endoftext|>"]
    return WhisperConfig(
        vocab_size=dims.vocab_size,
        num_mel_bins=dims.n_mels,
        d_model=dims.d_model,
        encoder_layers=dims.encoder_layers,
        decoder_layers=dims.decoder_layers,
        encoder_attention_heads=dims.encoder_heads,
        decoder_attention_heads=dims.decoder_heads,
        encoder_ffn_dim=dims.encoder_ffn,
        decoder_ffn_dim=dims.decoder_ffn,
        max_source_positions=dims.audio_positions,
        max_target_positions=dims.text_positions,
        decoder_start_token_id=special["<|startoftranscript|>"],
        pad_token_id=end_of_text,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, end_of_text])),
    )


def whisper_generation_config(
    config: WhisperConfig, dims: WhisperDimensions, special: dict[str, int], ct2_config: dict
) -> GenerationConfig:
    """The generation config transformers 5.x expects: `is_multilingual`, and for multilingual models the
    language and task tables, so that `generate(language="en", task="transcribe")` works."""
    shared_with_model = ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id")
    generation = GenerationConfig(
        **{name: getattr(config, name) for name in shared_with_model},
        suppress_tokens=config.suppress_tokens,
        begin_suppress_tokens=config.begin_suppress_tokens,
        max_length=dims.text_positions,
        no_timestamps_token_id=special["<|notimestamps|>"],
        prev_sot_token_id=special["<|startofprev|>"],
        return_timestamps=False,
        is_multilingual=dims.is_multilingual,
        alignment_heads=ct2_config.get("alignment_heads"),
    )
    if dims.is_multilingual:
        language_ids = ct2_config.get("lang_ids") or []
        by_id = {token_id: token for token, token_id in special.items()}
        generation.lang_to_id = {by_id[token_id]: token_id for token_id in language_ids}
        generation.task_to_id = {"transcribe": special["<|transcribe|>"], "translate": special["<|translate|>"]}
    return generation


def convert_ctranslate2_whisper(
    checkpoint: CTranslate2Model, tokenizer_path: Path, config_path: Path, out: Path
) -> None:
    """Write a Hugging Face Whisper folder (float16 safetensors, configs, tokenizer) into the folder `out`."""
    dims = whisper_dimensions(checkpoint)
    tokenizer_json = repaired_tokenizer_json(json.loads(tokenizer_path.read_text(encoding="utf-8")))
    ct2_config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    special = special_token_ids(tokenizer_json)
    config = whisper_config(dims, special, ct2_config)
    model = load_into_model(whisper_state_dict(checkpoint, dims), config)
    # Written by hand rather than model.save_pretrained, which silently writes nothing on every process
    # but rank 0 once torch.distributed is initialized (each torchrun process may convert on its own).
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items() if name != "proj_out.weight"}
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})  # proj_out is tied to the embedding
    config.save_pretrained(out)
    whisper_generation_config(config, dims, special, ct2_config).save_pretrained(out)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
    end_of_text = "<|endoftext|>"
    tokenizer_config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": end_of_text,
        "eos_token": end_of_text,
        "unk_token": end_of_text,
        "pad_token": end_of_text,
        "add_prefix_space": False,
        "model_max_length": dims.text_positions,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    WhisperFeatureExtractor(feature_size=dims.n_mels).save_pretrained(out)
