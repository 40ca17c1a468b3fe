"""Configuration of the sending rules, read at each use with
:func:`~odoo.addons.emboux_core.tools.get_config` (environment variable
wins over the ``emboux_*`` option of odoo.conf). A value that cannot be
parsed falls back to the default with a warning: a typo in a config file
must not stop every domain from sending."""

from fractions import Fraction
import logging
import math

from odoo.addons.emboux_core.tools import get_config

_logger = logging.getLogger(__name__)

DEFAULT_HOURLY_FRACTION = Fraction(1, 6)
DEFAULT_SPIKE_MAX_MULTIPLIER = 5.0
DEFAULT_BOUNCE_RATE_THRESHOLD = 0.005
DEFAULT_COMPLAINT_RATE_THRESHOLD = 0.001
# messages in the reputation window before the guillotine may fire: one
# bounce among a new domain's first messages says nothing yet
DEFAULT_GUILLOTINE_MIN_VOLUME = 200
# today's volume below which spike detection never blocks: a quiet domain
# may still send this much on any day
DEFAULT_SPIKE_MIN_VOLUME = 100

# warm-up: messages allowed on the first day, and the daily growth
# of each profile
WARMUP_START_CAP = 50
WARMUP_FACTORS = {"fast": 1.8, "standard": 1.1, "conservative": 1.05}
DEFAULT_WARMUP_PROFILE = "standard"

# days of history that the spike average and the reputation window read
HISTORY_DAYS = 7
# days of daily history kept (the daily reset drops older rows): the usage
# history of the portal, the staff views and GET .../outbound/history
# (``?days=`` 1 to this) reaches this far back
HISTORY_KEEP_DAYS = 400


def _warn(name, value, default):
    _logger.warning("Ignoring %s=%r (invalid); using %s", name, value, default)
    return default


def parse_fraction(value):
    """A fraction in (0, 1] from ``"1/6"``, ``"0.1667"`` or a number;
    ValueError otherwise."""
    if isinstance(value, (int, float, Fraction)) and not isinstance(value, bool):
        result = Fraction(value).limit_denominator(10**6)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if "/" in text:
            num, _sep, den = text.partition("/")
            result = Fraction(int(num.strip()), int(den.strip()))
        else:
            result = Fraction(text)
    else:
        raise ValueError(value)
    if not 0 < result <= 1:
        raise ValueError(value)
    return result


def hourly_fraction():
    """HOURLY_FRACTION / emboux_hourly_fraction: share of the daily limit
    a domain may send in one clock hour (default 1/6)."""
    raw = get_config("emboux_hourly_fraction", env="HOURLY_FRACTION")
    if raw is None:
        return DEFAULT_HOURLY_FRACTION
    try:
        return parse_fraction(raw)
    except (ValueError, ZeroDivisionError):
        return _warn("HOURLY_FRACTION", raw, DEFAULT_HOURLY_FRACTION)


def _positive_float(option, env, default, maximum=None):
    raw = get_config(option, env=env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return _warn(env, raw, default)
    if not math.isfinite(value) or not value > 0 or (maximum is not None and value > maximum):
        return _warn(env, raw, default)
    return value


def _positive_int(option, env, default):
    raw = get_config(option, env=env)
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return _warn(env, raw, default)
    return value if value >= 0 else _warn(env, raw, default)


def spike_max_multiplier():
    """SPIKE_MAX_MULTIPLIER / emboux_spike_max_multiplier (default 5)."""
    return _positive_float(
        "emboux_spike_max_multiplier", "SPIKE_MAX_MULTIPLIER", DEFAULT_SPIKE_MAX_MULTIPLIER
    )


def bounce_rate_threshold():
    """BOUNCE_RATE_THRESHOLD / emboux_bounce_rate_threshold (0.005)."""
    return _positive_float(
        "emboux_bounce_rate_threshold",
        "BOUNCE_RATE_THRESHOLD",
        DEFAULT_BOUNCE_RATE_THRESHOLD,
        maximum=1,
    )


def complaint_rate_threshold():
    """COMPLAINT_RATE_THRESHOLD / emboux_complaint_rate_threshold (0.001)."""
    return _positive_float(
        "emboux_complaint_rate_threshold",
        "COMPLAINT_RATE_THRESHOLD",
        DEFAULT_COMPLAINT_RATE_THRESHOLD,
        maximum=1,
    )


def guillotine_min_volume():
    """GUILLOTINE_MIN_VOLUME / emboux_guillotine_min_volume (200)."""
    return _positive_int(
        "emboux_guillotine_min_volume", "GUILLOTINE_MIN_VOLUME", DEFAULT_GUILLOTINE_MIN_VOLUME
    )


def spike_min_volume():
    """SPIKE_MIN_VOLUME / emboux_spike_min_volume (100)."""
    return _positive_int("emboux_spike_min_volume", "SPIKE_MIN_VOLUME", DEFAULT_SPIKE_MIN_VOLUME)
