"""The settings that survive a reboot (quiet, who set it, volume): restored at boot, saved on every change."""
from protocol import control

DEFAULT_VOLUME = 80
_SOURCES = (control.QUIET_SOURCE_HOST, control.QUIET_SOURCE_VOICE, control.QUIET_SOURCE_SWITCH)


def restore(hal, switch_quiet):
    """(quiet, quiet_source, volume) at boot. The switch's position wins over anything saved."""
    try:
        saved = hal.load_state() or {}
    except Exception:  # a corrupt settings file must not brick the earbud: start from defaults
        saved = {}
    volume = saved.get("volume", DEFAULT_VOLUME)
    if not isinstance(volume, int) or not 0 <= volume <= 100:
        volume = DEFAULT_VOLUME
    quiet = saved.get("quiet") is True
    source = saved.get("quiet_source", control.QUIET_SOURCE_HOST)
    if source not in _SOURCES:
        source = control.QUIET_SOURCE_HOST
    if switch_quiet:
        return True, control.QUIET_SOURCE_SWITCH, volume
    if quiet and source == control.QUIET_SOURCE_SWITCH:
        quiet = False  # the switch was moved to "listen" while we were off
    return quiet, (source if quiet else control.QUIET_SOURCE_HOST), volume


def save(hal, quiet, quiet_source, volume):
    try:
        hal.save_state({"quiet": quiet, "quiet_source": quiet_source, "volume": volume})
    except Exception:  # a full or failing flash loses a setting, never the earbud
        pass
