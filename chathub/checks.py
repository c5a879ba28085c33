"""The checks settings declare (`setting(check=...)`): each takes the value, already of the
setting's type, and returns it (perhaps normalized) or raises `ValueError` with a short reason;
whoever reads a source adds which key and which source it was. Pure.
"""

import math
from typing import TypeVar

from chathub.origins import host_pattern, parse_origin
from chathub.redisurl import parse_redis_url

T = TypeVar("T")


def positive(value: T) -> T:
    """1 or more (whole numbers), or above 0 (fractions)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if not value > 0:  # type: ignore[operator]
        wanted = "1 or more" if isinstance(value, int) else "more than 0"
        raise ValueError(f"{number(value)} is not {wanted}")
    return value


def natural(value: T) -> T:
    """0 or more, finite."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if not value >= 0:  # type: ignore[operator]
        raise ValueError(f"{number(value)} is not 0 or more")
    return value


def window(value: float) -> float:
    """0 to 1 second: a delay added to deliveries, never longer than a person would notice."""
    natural(value)
    if value > 1:
        raise ValueError(f"{number(value)} is more than 1 second")
    return value


def number(value: object) -> str:
    """A number as the user most likely wrote it: -1 rather than -1.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def origins(value: tuple[str, ...]) -> tuple[str, ...]:
    """Browser origins: `scheme://host[:port]`, `null` or `*`."""
    for entry in value:
        if entry not in ("*", "null") and parse_origin(entry) is None:
            raise ValueError(f"{entry!r} is not scheme://host[:port], null or *")
    return value


def hosts(value: tuple[str, ...]) -> tuple[str, ...]:
    """Host names (`chat.example.com`, `*.example.com`), addresses, or `*`; lower-cased."""
    return tuple(host_pattern(entry) for entry in value)


def not_empty(value: str) -> str:
    """Some text besides spaces."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def redis_url(value: str) -> str:
    """A Redis URL: redis://, rediss:// or unix://."""
    parse_redis_url(value)
    return value
