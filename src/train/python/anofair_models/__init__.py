"""Builds AnoFAIR's demo model set from synthetic phantoms: see src/train/README.md."""
