"""A visitor's sight of the shared model: the bundled experts and their own, by the name they gave it.

Every visitor's expert is a column of the one CombinedWhisper of their size and mixture
(CombinedWhisper.add_expert), under a name no other visitor's can take. A visitor sees the bundled accents
and their expert's own name, weighs those, and their requests reach the shared model with the name
translated; other visitors' experts are not theirs to weigh (a request naming one is refused as unknown).
Their rows decode in the same batches as everyone else's, with every other visitor's column at weight 0,
which costs nothing (maslora.mixture.lora.weighed_experts).

    view = ExpertView(shared, {"mine": "mine (visitor 3)"})
    view.accents                                   # [...the bundled accents..., "mine"]
    view.transcribe([clip], [Request("mas-lora", {"mine": 1.0})])
"""

import numpy as np
import torch

from maslora.systems.combined_whisper import CombinedWhisper, Request, Weighting
from maslora.whisper.transcribe import GUARDED, DecodingOptions


class ExpertView:
    """The shared model with the bundled experts plus `own` ({the name a visitor sees: the model's name})."""

    def __init__(self, shared: CombinedWhisper, own: dict[str, str]):
        self.shared, self.own = shared, dict(own)
        self.accents = [*shared.accents, *own]

    def weights_vector(self, weights: Weighting) -> torch.Tensor:
        """The weights over this view's accents (see CombinedWhisper.weights_vector); unknown names refused."""
        return self.shared.weights_vector(weights, self.accents)

    def transcribe(
        self, audios: list[np.ndarray], requests: list[Request], options: DecodingOptions = GUARDED
    ) -> list[str]:
        """CombinedWhisper.transcribe, the visitor's names translated to the model's."""
        return self.shared.transcribe(audios, [self._translated(request) for request in requests], options)

    def _translated(self, request: Request) -> Request:
        route, weights = request
        if route != "mas-lora" or weights is None:
            return Request(route, weights)
        self.weights_vector(weights)  # refused here by this view's names, never by everyone's
        mappings = [weights] if isinstance(weights, dict) else weights
        translated = [{self.own.get(name, name): weight for name, weight in mapping.items()} for mapping in mappings]
        return Request(route, translated[0] if isinstance(weights, dict) else translated)
