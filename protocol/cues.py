"""What each cue (PLAY_CUE, README §4.3) sounds like, and how a reply waits for one.

The earbud synthesises cues from these notes (hardware/firmware/earbud/sounds.py). The host needs them too: a reply
that reaches the earbud while a cue sounds waits for the cue to end (at most REPLY_HOLD_MAX_MS), so the host's
estimate of when the reply plays — its downlink pacing and its echo canceller's reference — must wait as well.
"""
from protocol import control

# Each cue is a short phrase of (frequency Hz, duration ms); 0 Hz is a rest. Rising = on, falling = off.
CUES = {
    control.CUE_WAKE: ((880, 70), (1320, 110)),
    control.CUE_LISTEN_END: ((1320, 50), (880, 70)),  # short: the reply follows it at once
    control.CUE_QUIET_ON: ((660, 100), (440, 180)),
    control.CUE_QUIET_OFF: ((440, 100), (660, 180)),
    control.CUE_ERROR: ((220, 300),),
    control.CUE_PAIRING: ((660, 80), (0, 60), (660, 80), (0, 60), (990, 160)),
    control.CUE_CONNECTED: ((523, 90), (659, 90), (784, 160)),
    control.CUE_FOLLOW_UP: ((1320, 60),),  # soft and short: "still listening", not a new wake
}

REPLY_HOLD_MAX_MS = 250  # a reply waits for a cue to finish for at most this long, then plays under it


def duration_ms(cue):
    """How long the cue sounds, in ms (0 for a cue this table does not know)."""
    return sum(ms for _, ms in CUES.get(cue, ()))
