"""What Whisper is trained to say: decoder inputs and targets from transcripts, and the loss on them.

    "Hello." (tiny.en, prompt <|startoftranscript|><|notimestamps|>):
        inputs   <|startoftranscript|>  <|notimestamps|>  Hello  .
        targets  -100                   Hello             .      <|endoftext|>

The prompt's positions and the padding are -100, so only the transcript's tokens count in the loss.
Used by every trainer: the experts (maslora.training), the router (maslora.auto.router) and the GPU check.
"""

import torch

from maslora.whisper.load import Whisper


def decoder_labels(whisper: Whisper, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(decoder inputs, targets): prompt + text + <|endoftext|>, shifted; prompt targets and padding are -100."""
    prompt_length = len(whisper.prompt_ids())
    sequences = [whisper.tokenizer(text).input_ids for text in texts]
    length = max(len(s) for s in sequences) - 1
    inputs = torch.full((len(texts), length), whisper.end_of_text_id)
    targets = torch.full((len(texts), length), -100)
    for row, sequence in enumerate(sequences):
        inputs[row, : len(sequence) - 1] = torch.tensor(sequence[:-1])
        targets[row, prompt_length - 1 : len(sequence) - 1] = torch.tensor(sequence[prompt_length:])
    return inputs, targets


def transcript_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the transcript's tokens (in float32, also under autocast); targets of -100
    (the prompt and the padding, see decoder_labels) do not count."""
    return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100)
