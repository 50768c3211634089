"""embbert-mcu: EmbBERT-Q from PyTorch to a verified C kernel on microcontrollers."""

__version__ = "0.1.0"
