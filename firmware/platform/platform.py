"""Local PlatformIO platform for the emulated boards: no packages, no registry."""

from platformio.public import PlatformBase


class EmbqemuPlatform(PlatformBase):
    pass
