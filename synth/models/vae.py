"""A variational autoencoder over the span encoding (written from scratch).

Encoder and decoder are MLPs; the decoder's raw output is read span by span: scalars through
``tanh`` with a Gaussian likelihood whose spread is learned per scalar, discrete groups and
share vectors through a softmax with a cross-entropy loss
(:func:`synth.models.base.span_losses`), plus the KL divergence to N(0, I). Sampling draws
``z ~ N(0, I)`` with a seeded generator, adds the learned spread to each scalar and samples each
discrete group from its softmax (share vectors stay probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from synth.models.base import Synthesizer, TrainConfig, span_losses
from synth.models.encoding import Span


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class _Encoder(nn.Module):
    def __init__(self, width: int, hidden: list[int], latent: int) -> None:
        super().__init__()
        self.body = _mlp([width, *hidden, 2 * latent])
        self.latent = latent

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.body(x)
        return out[:, : self.latent], out[:, self.latent :].clamp(-10, 10)


class _Decoder(nn.Module):
    """The decoder MLP plus a learned output spread per scalar span."""

    def __init__(self, sizes: list[int], n_scalars: int) -> None:
        super().__init__()
        self.body = _mlp(sizes)
        self.log_sigma = nn.Parameter(torch.full((max(n_scalars, 1),), -2.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class VAE(Synthesizer):
    """Variational autoencoder (see the module docstring).

    Args:
        train: Training settings.
        latent: Latent dimension.
        hidden: Hidden layer sizes of the encoder (the decoder mirrors them).
        kl_weight: Weight of the KL term. 0.5 (a slightly tighter reconstruction than the
            evidence lower bound's 1.0) measured better column-pair trends on both benchmark
            tables (``bench/generators.py``) with no loss in column shapes.
    """

    name = "vae"

    def __init__(
        self,
        train: TrainConfig | None = None,
        *,
        latent: int = 64,
        hidden: tuple[int, ...] = (256, 256),
        kl_weight: float = 0.5,
    ) -> None:
        super().__init__(train)
        if latent < 1 or not hidden or min(hidden) < 1 or kl_weight < 0:
            raise ValueError(
                f"VAE: latent={latent}, hidden={hidden}, kl_weight={kl_weight}: need latent >= 1, "
                "non-empty positive hidden sizes, kl_weight >= 0"
            )
        self.latent, self.hidden, self.kl_weight = latent, tuple(hidden), kl_weight
        self.spans: list[Span] = []

    def _build(self, width: int, spans: list[Span]) -> None:
        torch.manual_seed(self.train.seed)
        self.spans = spans
        self.encoder_net = _Encoder(width, list(self.hidden), self.latent).to(self.device)
        n_scalars = sum(1 for span in spans if span.activation == "tanh")
        sizes = [self.latent, *reversed(self.hidden), width]
        self.decoder_net = _Decoder(sizes, n_scalars).to(self.device)
        params = [*self.encoder_net.parameters(), *self.decoder_net.parameters()]
        adam = torch.optim.Adam(params, lr=self.train.lr, weight_decay=self.train.weight_decay)
        self.optimizers = {"vae": adam}

    def _modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder_net, "decoder": self.decoder_net}

    def _optimized(self) -> dict[str, list[str]]:
        return {"vae": ["encoder", "decoder"]}

    def _config(self) -> dict[str, Any]:
        return {"latent": self.latent, "hidden": list(self.hidden), "kl_weight": self.kl_weight}

    @classmethod
    def _from_config(cls, config: dict[str, Any], train: TrainConfig) -> VAE:
        return cls(
            train,
            latent=int(config["latent"]),
            hidden=tuple(config["hidden"]),
            kl_weight=float(config["kl_weight"]),
        )

    def _train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        order = torch.randperm(len(data), generator=rng).to(self.device)
        totals = {"reconstruction": 0.0, "kl": 0.0}
        steps = 0
        for start in range(0, len(data), self.train.batch_size):
            batch = data[order[start : start + self.train.batch_size]]
            mu, logvar = self.encoder_net(batch)
            noise = torch.randn(mu.shape, generator=rng).to(self.device)
            z = mu + noise * torch.exp(0.5 * logvar)
            recon = span_losses(self.decoder_net(z), batch, self.spans, self.decoder_net.log_sigma)
            kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1).mean()
            loss = recon + self.kl_weight * kl
            optimizer = self.optimizers["vae"]
            optimizer.zero_grad()  # grads to None (Horovod takes no argument)
            loss.backward()
            optimizer.step()
            totals["reconstruction"] += float(recon.detach())
            totals["kl"] += float(kl.detach())
            steps += 1
        return {k: v / max(steps, 1) for k, v in totals.items()}

    def _generate(
        self, n: int, rng: torch.Generator, conditions: Mapping[str, object] | None = None
    ) -> np.ndarray:
        with torch.no_grad():
            z = torch.randn((n, self.latent), generator=rng).to(self.device)
            raw = self.decoder_net(z)
            out, start, scalar = [], 0, 0
            sigma = torch.exp(self.decoder_net.log_sigma)
            for span in self.spans:
                block = raw[:, start : start + span.dim]
                start += span.dim
                if span.activation == "tanh":
                    noise = torch.randn(block.shape, generator=rng).to(self.device)
                    out.append(torch.tanh(block) + sigma[scalar] * noise)
                    scalar += 1
                elif span.discrete:
                    # one category per row by inverse CDF (one uniform per row: cheaper than
                    # multinomial, and the same draws on any device)
                    probs = torch.softmax(block, dim=1).cpu()
                    u = torch.rand((n, 1), generator=rng, dtype=probs.dtype)
                    pick = (probs.cumsum(dim=1) < u).sum(dim=1, keepdim=True)
                    pick = pick.clamp_(max=span.dim - 1)
                    out.append(torch.zeros_like(probs).scatter_(1, pick, 1.0).to(self.device))
                else:
                    out.append(torch.softmax(block, dim=1))
            return torch.cat(out, dim=1).cpu().numpy()
