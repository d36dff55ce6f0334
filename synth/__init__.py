"""The synthetic region: a simulated population and each partner's view of it."""
from synth.generate import generate
from synth.manifest import Manifest

__all__ = ["Manifest", "generate"]
