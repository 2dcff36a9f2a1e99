"""LoRA and mixture-of-LoRA-experts maths, as pure functions over tensors.

    LoRA:     y = W0 x + s B A x                    s = alpha / r
    Mixture:  y = W0 x + s sum_i w_i B_i A_i x      (MAS-LoRA: one expert i per accent)
    Chosen:   y = W0 x + s B_e A_e x                (training: each sample through its own accent's expert e)
    Shared:   y = W0 x + s B_0 A_0 x + s sum_i w_i B_i A_i x
                                                    (shared + experts: a LoRA every sample trains, weight 1)

Shapes: A [N, r, in] (the N experts' down-projections), B [N, out, r] (up-projections), w [N] or, for
per-sample weights in a batch, [batch, N]. A regular LoRA is the mixture with N = 1 and w = [1]; the
shared LoRA beside experts is one more pair, A_0 [r0, in] and B_0 [out, r0], at the experts' scale s.
"""

import math

import torch


def lora_scale(alpha: float, rank: int) -> float:
    """s = alpha / r (16 / 16 = 1 with the paper's settings)."""
    return alpha / rank


def merged_weight(
    W0: torch.Tensor, A: torch.Tensor, B: torch.Tensor, weights: torch.Tensor, scale: float
) -> torch.Tensor:
    """W0 + s sum_i w_i B_i A_i: the weight of a plain linear layer that computes the mixture, as one
    product of the concatenated experts, [w_1 B_1 | ... | w_N B_N] @ [A_1; ...; A_N], fused into W0."""
    return torch.addmm(W0, *_weighted_factors(A, B, weights), alpha=scale)


def lora_output(x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scale: float) -> torch.Tensor:
    """s B A x of one LoRA (A [r, in], B [out, r]) for x [..., in]: the shared LoRA's term."""
    return scale * (x @ A.T) @ B.T


def lora_weight(W0: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scale: float) -> torch.Tensor:
    """W0 + s B A: one LoRA (the shared one) folded into a weight."""
    return torch.addmm(W0, B, A, alpha=scale)


def expert_deltas(A: torch.Tensor, B: torch.Tensor, scale: float) -> torch.Tensor:
    """s B_i A_i of every expert, each flattened: [N, out * in]. Computed once, they turn every later
    merge into one matrix-vector product (see merged_weight_from_deltas)."""
    return scale * torch.einsum("nor,nri->noi", B, A).flatten(1)


def merged_weight_from_deltas(W0: torch.Tensor, deltas: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """W0 + sum_i w_i (s B_i A_i) from the stacked deltas: N * out * in multiply-adds instead of the
    N * r * out * in of merged_weight, at the price of N weight-sized deltas held in memory."""
    return torch.addmv(W0.flatten(), deltas.T, weights.to(deltas)).view_as(W0)


def _weighted_factors(A: torch.Tensor, B: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([w_1 B_1 | ... | w_N B_N] of shape [out, N*r], [A_1; ...; A_N] of shape [N*r, in])."""
    n, out_features, rank = B.shape
    weighted_B = (B * weights.to(B)[:, None, None]).permute(1, 0, 2).reshape(out_features, n * rank)
    return weighted_B, A.reshape(n * rank, -1)


def mixture_output(
    x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, weights: torch.Tensor, scale: float
) -> torch.Tensor:
    """s sum_i w_b,i B_i A_i x_b for every sample b with its own weights w_b ([batch, N], or [N] for all).

    x is [batch, ..., in]. All experts run as one batched product; with one-hot rows (training), the
    other experts' terms are multiplied by exactly 0, so they receive exactly zero gradient.
    """
    n, rank, _ = A.shape
    hidden = x @ A.reshape(n * rank, -1).T  # [batch, ..., N*r]
    hidden = hidden.unflatten(-1, (n, rank))  # [batch, ..., N, r]
    per_sample = weights if weights.dim() == 2 else weights.expand(x.shape[0], n)
    hidden = hidden * per_sample.to(hidden).reshape(x.shape[0], *([1] * (x.dim() - 2)), n, 1)
    return scale * torch.einsum("...nr,nor->...o", hidden, B)


def weighed_experts(
    A: torch.Tensor, B: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, weights) of only the experts some sample weighs (weights [batch, N] or [N]). An expert that
    every sample weighs 0 adds 0 to every output (mixture_output), so leaving it out saves its work: a
    base row decodes with no adapter work at all, and experts held for others cost a batch nothing."""
    used = weights.ne(0).reshape(-1, weights.shape[-1]).any(0)
    return A[used], B[used], weights[..., used]


def chosen_expert_output(
    x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, experts: torch.Tensor, scale: float
) -> torch.Tensor:
    """s B_e A_e x_b for every sample b through its one expert e = experts[b] (training's routing): the
    same as mixture_output with one-hot rows, for 1/N of its work. x is [batch, ..., in]."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # [batch, positions, in]
    hidden = torch.bmm(flat, A[experts].transpose(1, 2))  # [batch, positions, r]
    return scale * torch.bmm(hidden, B[experts].transpose(1, 2)).reshape(*x.shape[:-1], B.shape[1])


def init_lora_A(n_experts: int, rank: int, in_features: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Kaiming-uniform A (a = sqrt(5), as nn.Linear and PEFT initialize it): bound = 1 / sqrt(in)."""
    bound = 1.0 / math.sqrt(in_features)
    return (torch.rand(n_experts, rank, in_features, generator=generator) * 2 - 1) * bound


def init_lora_B(n_experts: int, out_features: int, rank: int) -> torch.Tensor:
    """B = 0, so a fresh adapter leaves the model exactly as it was."""
    return torch.zeros(n_experts, out_features, rank)
