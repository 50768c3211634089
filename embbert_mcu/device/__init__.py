"""Device stage: boards, PlatformIO project, firmware sources, emulator, serial link and
protocol, bench, ELF sizes."""
