"""Whether PlatformIO's package registry can be reached, asked before a real board's first
build: without it, `pio run` retries for about a minute and ends in an empty
``HTTPClientError:``."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from ..errors import BuildError

REGISTRY_HOST = "api.registry.platformio.org"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
HTTP_ERROR = re.compile(r"^(HTTPClientError|.*(?:ConnectionError|NameResolutionError|"
                        r"Max retries exceeded)).*$", re.MULTILINE)


def platform_name(spec: str) -> str:
    """'ststm32@~17.0' or 'platformio/ststm32' -> 'ststm32'."""
    return spec.split("@", 1)[0].rsplit("/", 1)[-1].strip()


def unreachable(platform: str, board_id: str, core: Path, reason: str) -> BuildError:
    return BuildError(
        f"PlatformIO's package registry ({REGISTRY_HOST}) is unreachable ({reason}), so "
        f"platform {platform} for {board_id} cannot be installed",
        hint=f"connect to the internet for the first build of a real board (the packages are "
             f"then kept in {core}), or build for an emulated board (--board qemu_h743)")


def check_registry(platform_spec: str, board_id: str, core: Path, timeout_s: float = 5.0) -> None:
    """Raise BuildError at once when the platform must be installed and the registry is out
    of reach. Behind a proxy the direct check says nothing, so it is skipped."""
    platform = platform_name(platform_spec)
    if (core / "platforms" / platform).is_dir() or any(os.environ.get(v) for v in PROXY_VARS):
        return
    try:
        socket.create_connection((REGISTRY_HOST, 443), timeout=timeout_s).close()
    except OSError as exc:
        raise unreachable(platform, board_id, core, exc.strerror or type(exc).__name__) from None


def raise_http_error(output: str, platform_spec: str, board_id: str, core: Path) -> None:
    """`pio run` output ending in a registry failure -> the same one-line BuildError."""
    match = HTTP_ERROR.search(output)
    if match:
        raise unreachable(platform_name(platform_spec), board_id, core,
                          match.group(0).strip()[:120] or "HTTPClientError")
