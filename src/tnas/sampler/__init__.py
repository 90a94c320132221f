"""Architecture distributions: uniform, the TNAS transformer-VAE sampler."""
from tnas.sampler.base import Evaluator, Sampler

__all__ = ["Evaluator", "Sampler"]
