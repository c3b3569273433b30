"""A conditional Wasserstein GAN over the span encoding (written from scratch).

* Conditional generator with *training-by-sampling* over one categorical column: each row of a
  batch first draws a category with probability proportional to ``log(1 + frequency)`` (so rare
  categories are seen often enough to be learned), then a real row of that category; the
  generator gets the category as a one-hot condition and is penalised (cross-entropy) when its
  output for that column disagrees.
* Outputs activated per span: ``tanh`` for scalars, Gumbel-softmax for discrete groups, softmax
  for share vectors (:func:`synth.models.base.activate`).
* Discriminator (critic) with *packing* (``pac`` rows judged together, against mode collapse)
  and a gradient penalty (WGAN-GP).

Sampling draws the condition from the column's real frequencies, or fixes it when
``conditions`` names that column (no rejection needed then).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as nnf

from synth.errors import InvalidDataError
from synth.models.base import Synthesizer, TrainConfig, activate
from synth.models.encoding import CategoricalEncoder, Span


class _Residual(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.fc, self.bn = nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([nnf.relu(self.bn(self.fc(x))), x], dim=1)


class _Generator(nn.Module):
    def __init__(self, n_in: int, hidden: tuple[int, ...], width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        size = n_in
        for h in hidden:
            layers.append(_Residual(size, h))
            size += h
        layers.append(nn.Linear(size, width))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Critic(nn.Module):
    def __init__(self, n_in: int, hidden: tuple[int, ...], pac: int) -> None:
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        size = n_in * pac
        for h in hidden:
            layers += [nn.Linear(size, h), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            size = h
        layers.append(nn.Linear(size, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(-1, x.shape[1] * self.pac))


class GAN(Synthesizer):
    """Conditional WGAN-GP with packing (see the module docstring).

    Args:
        train: Training settings (``batch_size`` must be a multiple of ``pac``).
        condition_column: The categorical column sampled by training-by-sampling (default: the
            first categorical column; none: an unconditional GAN).
        noise_dim: Size of the generator's noise input.
        generator_hidden: Residual layer sizes of the generator.
        critic_hidden: Layer sizes of the critic.
        pac: Rows per critic judgement.
        gp_weight: Gradient-penalty weight.
        tau: Gumbel-softmax temperature.
    """

    name = "gan"

    def __init__(
        self,
        train: TrainConfig | None = None,
        *,
        condition_column: str | None = None,
        noise_dim: int = 128,
        generator_hidden: tuple[int, ...] = (256, 256),
        critic_hidden: tuple[int, ...] = (256, 256),
        pac: int = 10,
        gp_weight: float = 10.0,
        tau: float = 0.2,
    ) -> None:
        super().__init__(train)
        if pac < 1 or self.train.batch_size % pac:
            raise ValueError(
                f"GAN: batch_size={self.train.batch_size} must be a multiple of pac={pac} "
                "(the critic judges pac rows together)"
            )
        if noise_dim < 1 or gp_weight < 0 or tau <= 0:
            raise ValueError(f"GAN: noise_dim={noise_dim}, gp_weight={gp_weight}, tau={tau}")
        self.condition_column = condition_column
        self.noise_dim, self.pac, self.gp_weight, self.tau = noise_dim, pac, gp_weight, tau
        self.generator_hidden, self.critic_hidden = tuple(generator_hidden), tuple(critic_hidden)
        self.spans: list[Span] = []
        self._cond: tuple[int, int] | None = None  # (start, dim) of the condition span
        self._cond_freq: np.ndarray | None = None

    # -- structure -------------------------------------------------------------------------------
    def _condition_span(self) -> tuple[int, int] | None:
        """Locate the condition column's one-hot span in the encoded matrix."""
        assert self.encoder is not None
        columns = self.encoder.columns
        name = self.condition_column
        if name is None:
            name = next((c.spec.name for c in columns if c.spec.kind == "categorical"), None)
            self.condition_column = name
        if name is None:
            return None
        start = 0
        for col in columns:
            width = sum(s.dim for s in col.spans)
            if col.spec.name == name:
                if col.spec.kind != "categorical":
                    raise InvalidDataError(
                        f"GAN condition_column {name!r} is {col.spec.kind}: it must be categorical"
                    )
                offset = 2 if col.has_nulls else 0  # the null indicator comes first
                return start + offset, width - offset
            start += width
        raise InvalidDataError(
            f"GAN condition_column {name!r} is not one of {[c.spec.name for c in columns]}"
        )

    def _build(self, width: int, spans: list[Span]) -> None:
        torch.manual_seed(self.train.seed)
        self.spans = spans
        self._cond = self._condition_span()
        cond_dim = self._cond[1] if self._cond else 0
        self.generator = _Generator(self.noise_dim + cond_dim, self.generator_hidden, width)
        self.critic = _Critic(width + cond_dim, self.critic_hidden, self.pac)
        self.generator.to(self.device)
        self.critic.to(self.device)
        betas = (0.5, 0.9)
        self.optimizers = {
            name: torch.optim.Adam(
                module.parameters(),
                lr=self.train.lr,
                betas=betas,
                weight_decay=self.train.weight_decay,
            )
            for name, module in self._modules().items()
        }

    def _modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "critic": self.critic}

    def _optimized(self) -> dict[str, list[str]]:
        return {"generator": ["generator"], "critic": ["critic"]}

    def _config(self) -> dict[str, Any]:
        return {
            "condition_column": self.condition_column,
            "noise_dim": self.noise_dim,
            "generator_hidden": list(self.generator_hidden),
            "critic_hidden": list(self.critic_hidden),
            "pac": self.pac,
            "gp_weight": self.gp_weight,
            "tau": self.tau,
            "condition_frequencies": None if self._cond_freq is None else self._cond_freq.tolist(),
        }

    @classmethod
    def _from_config(cls, config: dict[str, Any], train: TrainConfig) -> GAN:
        model = cls(
            train,
            condition_column=config["condition_column"],
            noise_dim=int(config["noise_dim"]),
            generator_hidden=tuple(config["generator_hidden"]),
            critic_hidden=tuple(config["critic_hidden"]),
            pac=int(config["pac"]),
            gp_weight=float(config["gp_weight"]),
            tau=float(config["tau"]),
        )
        freq = config.get("condition_frequencies")
        model._cond_freq = None if freq is None else np.asarray(freq, dtype=np.float64)
        return model

    # -- training --------------------------------------------------------------------------------
    def _one_hot(self, index: torch.Tensor) -> torch.Tensor:
        assert self._cond is not None
        return nnf.one_hot(index, self._cond[1]).float().to(self.device)

    def _train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        bs = self.train.batch_size
        n = len(data)
        if n < bs:
            bs = max(self.pac, n - n % self.pac)
        by_category: list[torch.Tensor] = []
        sampling: torch.Tensor | None = None
        if self._cond is not None:
            start, dim = self._cond
            category = data[:, start : start + dim].argmax(dim=1).cpu()
            counts = torch.bincount(category, minlength=dim).double()
            self._cond_freq = (counts / counts.sum()).numpy()
            by_category = [torch.nonzero(category == c).flatten() for c in range(dim)]
            sampling = torch.log1p(counts)
            sampling = sampling / sampling.sum()
        totals = {"critic": 0.0, "generator": 0.0}
        steps = max(1, n // bs)
        for _ in range(steps):
            cond = None
            if sampling is not None:
                cats = torch.multinomial(sampling, bs, replacement=True, generator=rng)
                rows = torch.empty(bs, dtype=torch.long)
                for c in cats.unique().tolist():
                    mask = cats == c
                    pool = by_category[c]
                    pick = torch.randint(len(pool), (int(mask.sum()),), generator=rng)
                    rows[mask] = pool[pick]
                real = data[rows.to(self.device)]
                cond = self._one_hot(cats)
            else:
                real = data[torch.randint(n, (bs,), generator=rng).to(self.device)]
            # critic step
            fake = self._fake(bs, cond, rng)
            real_in = real if cond is None else torch.cat([real, cond], dim=1)
            fake_in = fake if cond is None else torch.cat([fake, cond], dim=1)
            c_loss = self.critic(fake_in.detach()).mean() - self.critic(real_in).mean()
            penalty = self._gradient_penalty(real_in, fake_in.detach(), rng)
            self.optimizers["critic"].zero_grad()  # grads to None (Horovod takes no argument)
            (c_loss + self.gp_weight * penalty).backward()
            self.optimizers["critic"].step()
            # generator step: the critic is frozen, so only the generator gets gradients (its
            # gradients here would be discarded anyway; a distributed optimizer must not see them)
            self.critic.requires_grad_(False)
            raw = self.generator(self._noise(bs, cond, rng))
            fake = activate(raw, self.spans, tau=self.tau, gumbel=rng)
            fake_in = fake if cond is None else torch.cat([fake, cond], dim=1)
            g_loss = -self.critic(fake_in).mean()
            if cond is not None and self._cond is not None:
                start, dim = self._cond
                g_loss = g_loss + nnf.cross_entropy(raw[:, start : start + dim], cond.argmax(dim=1))
            self.optimizers["generator"].zero_grad()  # grads to None (Horovod takes no argument)
            g_loss.backward()
            self.optimizers["generator"].step()
            self.critic.requires_grad_(True)
            totals["critic"] += float(c_loss.detach())
            totals["generator"] += float(g_loss.detach())
        return {k: v / steps for k, v in totals.items()}

    def _noise(self, n: int, cond: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        z = torch.randn((n, self.noise_dim), generator=rng).to(self.device)
        return z if cond is None else torch.cat([z, cond], dim=1)

    def _fake(self, n: int, cond: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
        return activate(
            self.generator(self._noise(n, cond, rng)), self.spans, tau=self.tau, gumbel=rng
        )

    def _gradient_penalty(
        self, real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator
    ) -> torch.Tensor:
        groups = real.shape[0] // self.pac
        alpha = torch.rand((groups, 1, 1), generator=rng).to(self.device)
        alpha = alpha.repeat(1, self.pac, real.shape[1]).reshape(-1, real.shape[1])
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        grads = torch.autograd.grad(self.critic(mixed).sum(), mixed, create_graph=True)[0]
        norms = grads.reshape(-1, self.pac * real.shape[1]).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()

    # -- sampling --------------------------------------------------------------------------------
    def _generate(
        self, n: int, rng: torch.Generator, conditions: Mapping[str, object] | None = None
    ) -> np.ndarray:
        self.generator.eval()
        with torch.no_grad():
            cond = None
            if self._cond is not None:
                fixed = self._fixed_category(conditions or {})
                if fixed is not None:
                    cats = torch.full((n,), fixed, dtype=torch.long)
                else:
                    assert self._cond_freq is not None
                    freq = torch.as_tensor(self._cond_freq, dtype=torch.double)
                    cats = torch.multinomial(freq, n, replacement=True, generator=rng)
                cond = self._one_hot(cats)
            raw = self.generator(self._noise(n, cond, rng))
            out = activate(raw, self.spans, tau=self.tau, gumbel=rng, hard=True)
        self.generator.train()
        return out.cpu().numpy()

    def _fixed_category(self, conditions: Mapping[str, object]) -> int | None:
        """The condition category index when ``conditions`` fixes the condition column."""
        name = self.condition_column
        if name is None or name not in conditions or self.encoder is None:
            return None
        column = next(c for c in self.encoder.columns if c.spec.name == name)
        encoder = column.encoder
        assert isinstance(encoder, CategoricalEncoder)
        value = str(conditions[name])
        if value in encoder.categories:
            return encoder.categories.index(value)
        return None  # unseen or bucketed into __other__: leave it to rejection sampling
