"""The tnas version: a root module, so every layer can read it without importing the package face
(the face sits on top of the layers, see docs/architecture.md)."""

__version__ = "0.1.0"
