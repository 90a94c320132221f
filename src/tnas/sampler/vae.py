"""The TNAS transformer VAE over architecture token sequences (paper sections 3.2-3.3, eq. 2-8).

Shapes: N architectures, D = space.num_decisions positions, K = space.max_choices (the widest
decision), L = latent_dim, E = d_model.

* Encoder q(z|a): token embedding (one table for all positions, indexed with a per-position
  offset so decisions with different choice counts never share a row) + position embedding,
  a learned summary token prepended, `num_layers` transformer blocks (multi-head self-attention
  + ReLU feed-forward, eq. 3-8), and a linear map of the summary token to (mu, logvar).
* Decoder p(a|z): z is projected to E and added to D learned position queries, then
  `num_layers` transformer blocks (no causal mask: positions are conditionally independent given
  z, so one forward pass decodes a whole batch), then a per-position linear head to K logits.
  Logits of choices that do not exist at a position are -inf (`space.choice_mask()`).
* Loss (eq. 2, negated ELBO): reconstruction cross-entropy summed over positions +
  beta * KL(q(z|a) || N(0, I)) summed over latent dims, both averaged over the batch (optionally
  with per-example weights).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tnas.checks import Cross, checked, validate
from tnas.space.base import SearchSpace


@dataclass
class VAEConfig:
    """Size and training hyper-parameters of the transformer VAE.

    The defaults are small on purpose: NB201 has 6 positions x 5 choices, and the sampler
    retrains after every batch of evaluations, so CPU speed matters more than capacity.
    """

    d_model: int = checked(32, ge=1, le=1024)  # E: token / hidden width
    nhead: int = checked(2, ge=1, le=64)
    num_layers: int = checked(1, ge=1, le=24)  # transformer blocks in the encoder and, separately, in the decoder
    dim_feedforward: int = checked(64, ge=1, le=8192)
    latent_dim: int = checked(8, ge=1, le=1024)  # L
    dropout: float = checked(0.0, ge=0, lt=1)  # 0: the top-K set is tiny and we *want* it memorised (docs/sampler.md)
    beta: float = checked(0.5, ge=0, le=1000)  # weight of the KL term (eq. 2: beta = 1; 0.1-1 search equally well)
    lr: float = checked(3e-3, gt=0, le=10)  # Adam learning rate
    weight_decay: float = checked(0.0, ge=0, le=1)

    def cross_checks(self) -> tuple[Cross, ...]:
        # multi-head attention splits d_model evenly across heads
        return (Cross(self.d_model % self.nhead == 0, "d_model", self.d_model, f"a multiple of nhead = {self.nhead}"),)

    def validate(self) -> None:
        """Raise TnasError naming the first bad field (see `tnas.checks`)."""
        validate(self, "sampler.vae.")


def _blocks(cfg: VAEConfig) -> nn.TransformerEncoder:
    # eq. 3-8: multi-head self-attention + ReLU FFN; pre-norm (LayerNorm before each sub-block).
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.nhead, cfg.dim_feedforward, cfg.dropout,
        activation="relu", batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)


class TransformerVAE(nn.Module):
    """Transformer encoder/decoder VAE over the decisions of `space`.

    Args:
        space: any registered SearchSpace; only `num_choices` (K_d per position) is used.
        config: model size and loss weights.
    """

    def __init__(self, space: SearchSpace, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or VAEConfig()
        cfg.validate()
        sizes = torch.tensor(space.num_choices, dtype=torch.long)
        self.num_decisions = d = space.num_decisions
        self.max_choices = k = space.max_choices
        offsets = torch.cumsum(sizes, 0) - sizes  # first row of each position in the shared table
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("mask", space.choice_mask(), persistent=False)  # bool [D, K]
        e = cfg.d_model
        # encoder
        self.tok = nn.Embedding(int(sizes.sum()), e)
        self.enc_pos = nn.Parameter(0.02 * torch.randn(d, e))
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, e))
        self.encoder = _blocks(cfg)
        self.enc_norm = nn.LayerNorm(e)
        self.to_stats = nn.Linear(e, 2 * cfg.latent_dim)
        # decoder
        self.from_z = nn.Linear(cfg.latent_dim, e)
        self.dec_pos = nn.Parameter(0.02 * torch.randn(d, e))
        self.decoder = _blocks(cfg)
        self.dec_norm = nn.LayerNorm(e)
        self.head_w = nn.Parameter(torch.randn(d, e, k) / e**0.5)  # per-position head
        self.head_b = nn.Parameter(torch.zeros(d, k))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, archs: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|a). archs long [N, D] -> (mu [N, L], logvar [N, L])."""
        h = self.tok(archs + self.offsets) + self.enc_pos  # [N, D, E]
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)  # [N, 1+D, E]
        h = self.enc_norm(self.encoder(h))
        mu, logvar = self.to_stats(h[:, 0]).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)  # clamp: exp(logvar) must stay finite

    def decode(self, z: Tensor) -> Tensor:
        """p(a|z). z float [N, L] -> logits float [N, D, K]; -inf where a choice does not exist."""
        h = self.from_z(z)[:, None, :] + self.dec_pos  # [N, D, E]
        h = self.dec_norm(self.decoder(h))
        logits = torch.einsum("nde,dek->ndk", h, self.head_w) + self.head_b
        return logits.masked_fill(~self.mask, float("-inf"))

    @torch.no_grad()
    def marginals(self, n: int, generator: torch.Generator) -> Tensor:
        """Monte-Carlo marginal p(a_d = k) = E_z p(a_d = k | z) over n draws z ~ N(0, I): float [D, K] (CPU)."""
        self.eval()
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.head_w.device)
        return torch.softmax(self.decode(z), dim=-1).mean(0).cpu()

    @torch.no_grad()
    def modes(self, z: Tensor) -> Tensor:
        """argmax_a p(a | z) for each row of z float [N, L]: long [N, D] (CPU)."""
        self.eval()
        return self.decode(z.to(self.head_w.device)).argmax(-1).cpu()

    def prior_modes(self, n: int, generator: torch.Generator) -> Tensor:
        """argmax_a p(a | z) for z = 0 (row 0) and n draws z ~ N(0, I): long [n + 1, D] (CPU)."""
        z = torch.cat([torch.zeros(1, self.latent_dim), torch.randn(n, self.latent_dim, generator=generator)])
        return self.modes(z)

    def forward(self, archs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reparameterised pass. archs long [N, D], noise float [N, L] (standard normal, drawn by the
        caller from its generator) -> (logits [N, D, K], mu [N, L], logvar [N, L])."""
        mu, logvar = self.encode(archs)
        z = mu + noise * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar

    def loss(self, archs: Tensor, noise: Tensor, weights: Tensor | None = None) -> dict[str, Tensor]:
        """Negated ELBO (eq. 2) with a beta-weighted KL.

        Args:
            archs: long [N, D].
            noise: float [N, L], standard normal.
            weights: optional float [N] >= 0 per-example weights (normalised to sum 1 here).
        Returns:
            dict of scalars: 'loss' = recon + beta * kl, 'recon' (nats per architecture,
            summed over positions), 'kl' (nats, summed over latent dims).
        """
        logits, mu, logvar = self(archs, noise)
        # masked logits are -inf; cross_entropy handles them (prob 0) as long as targets are valid
        ce = nn.functional.cross_entropy(logits.flatten(0, 1), archs.flatten(), reduction="none")
        recon = ce.view(archs.shape).sum(-1)  # [N]
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)  # [N]
        if weights is None:
            w = torch.full_like(recon, 1.0 / recon.shape[0])
        else:
            w = weights.to(recon) / weights.sum().clamp_min(1e-12)
        recon_m, kl_m = (w * recon).sum(), (w * kl).sum()
        return {"loss": recon_m + self.config.beta * kl_m, "recon": recon_m, "kl": kl_m}

    @torch.no_grad()
    def sample(self, z: Tensor, uniforms: Tensor, temperature: float = 1.0) -> Tensor:
        """Draw one architecture per latent row by inverse-CDF sampling of each position.

        Args:
            z: float [N, L] latents (z ~ N(0, I) for generation).
            uniforms: float [N, D] in [0, 1), drawn by the caller from its generator (so sampling
                is reproducible on any device).
            temperature: logits are divided by it; < 1 sharpens, > 1 flattens; 0 = argmax.
        Returns:
            long [N, D].
        """
        logits = self.decode(z)
        if temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / temperature, dim=-1)  # masked choices get prob 0
        cdf = probs.cumsum(-1)
        idx = (cdf < uniforms[..., None]).sum(-1)
        # guard against cdf[-1] < u from rounding: clamp to the last existing choice
        return torch.minimum(idx, self.mask.sum(-1) - 1)

    @torch.no_grad()
    def reconstruct(self, archs: Tensor) -> Tensor:
        """Argmax decode of the posterior mean: long [N, D] -> long [N, D]."""
        mu, _ = self.encode(archs)
        return self.decode(mu).argmax(-1)
