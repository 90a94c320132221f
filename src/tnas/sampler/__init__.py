"""Architecture distributions: uniform, the TNAS transformer-VAE sampler (registry: `SAMPLERS`)."""
from tnas.sampler.base import SAMPLERS, Evaluator, Sampler, build_sampler
from tnas.sampler.tnas import TNASConfig, TNASSampler
from tnas.sampler.uniform import UniformSampler
from tnas.sampler.vae import TransformerVAE, VAEConfig

__all__ = ["SAMPLERS", "Evaluator", "Sampler", "TNASConfig", "TNASSampler", "TransformerVAE", "UniformSampler",
           "VAEConfig", "build_sampler"]
