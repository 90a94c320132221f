"""Architecture distributions: uniform, the TNAS transformer-VAE sampler."""
from tnas.sampler.base import Evaluator, Sampler
from tnas.sampler.tnas import TNASConfig, TNASSampler
from tnas.sampler.uniform import UniformSampler
from tnas.sampler.vae import TransformerVAE, VAEConfig

__all__ = ["Evaluator", "Sampler", "TNASConfig", "TNASSampler", "TransformerVAE", "UniformSampler", "VAEConfig"]
