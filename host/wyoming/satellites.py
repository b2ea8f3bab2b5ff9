"""The bridge's Wyoming satellites: every paired earbud is its own satellite, on its own port.

Why one port per earbud, not one satellite for the whole bridge: Home Assistant's Wyoming integration binds one
satellite device to each host:port entry — one area, one mute switch, one pipeline choice, one target for timers and
announcements. Earbuds are worn by different people in different rooms, so each one gets that device of its own
(the first earbud on `[wyoming] satellite_port`, the next on the port after it, in the order they were paired).
One satellite naming the earbud inside its events would merge everyone's timers, mute and area into one device, and
Home Assistant could not address an announcement to one person's ear.

    satellites = await start_satellites(config, bridge.runners)   # None when [wyoming] satellite_port is 0
    satellites.ports                                                # {"Earpiece-Kitchen": 10700, ...}
    await satellites.close()
"""

from __future__ import annotations

import logging

from host.config import Config
from host.pipeline.wake_verify import WINDOW_BEFORE_S
from host.wyoming.satellite import EarbudSatellite
from host.wyoming.server import SatelliteServer
from host.wyoming.zeroconf import Advertisement
from protocol import control

log = logging.getLogger(__name__)


class BridgeSatellites:
    def __init__(self) -> None:
        self.servers: dict[str, SatelliteServer] = {}  # earbud address -> its server
        self.advertisement: Advertisement | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {server.satellite.name: server.port for server in self.servers.values()}

    async def forget(self, address: str) -> None:
        """The earbud was forgotten: its satellite goes away (its port closes)."""
        server = self.servers.pop(address.upper(), None)
        if server is not None:
            await server.stop()

    async def close(self) -> None:
        if self.advertisement is not None:
            await self.advertisement.close()
        for server in self.servers.values():
            await server.stop()
        self.servers.clear()


def satellite_for(runner, config: Config) -> EarbudSatellite:
    """An earbud's satellite, wired to its runner: its downlink for Home Assistant's audio, its voice for timers,
    its quiet state, its link for the wake cue, its session's wake verification; and set on its session, whose
    hooks call it."""
    session = runner.session
    verifier = getattr(getattr(session, "wake_check", None), "verifier", None)  # None: [wake] verify is off
    window = session.listening_part.wake_window

    def heard(wake) -> tuple[bytes, bytes]:
        return (window.between(wake.time_s - WINDOW_BEFORE_S, wake.time_s),
                window.between(wake.time_s, window.end_s))

    async def cue() -> None:
        if runner.link.connected:
            await runner.link.send_control(control.PlayCue(control.CUE_WAKE))

    satellite = EarbudSatellite(runner.device.name, config, runner.pacer,
                                lambda text: session.voice.start(text, "Home Assistant"),
                                lambda: runner.link.quiet, cue,
                                (lambda audio, at_s: verifier.verify(audio, at_s).accepted) if verifier else None,
                                heard)
    session.satellite = satellite
    return satellite


async def start_satellites(config: Config, runners: dict, port: int | None = None) -> BridgeSatellites | None:
    """A satellite server for each of `runners` (address -> EarbudRunner) from `port` (default: `[wyoming]
    satellite_port`) upwards; None when that is 0. Raises SatellitePortError when a port is taken."""
    settings = config.wyoming
    first = settings.satellite_port if port is None else port
    if not first:
        return None
    satellites = BridgeSatellites()
    try:
        for index, (address, runner) in enumerate(runners.items()):
            server = SatelliteServer(satellite_for(runner, config), settings.satellite_host, first + index)
            await server.start()
            satellites.servers[address.upper()] = server
            log.info("Wyoming satellite %s on %s:%d (add it in Home Assistant: Settings > Devices & services > "
                     "Add integration > Wyoming Protocol)", runner.device.name, settings.satellite_host, server.port)
        if settings.zeroconf:
            satellites.advertisement = Advertisement()
            try:
                for server in satellites.servers.values():
                    await satellites.advertisement.add(server.satellite.name, settings.satellite_host, server.port)
            except Exception as error:  # noqa: BLE001 — no multicast here: Home Assistant can still add it by hand
                log.error("zeroconf: the satellites are not advertised (%s); add them in Home Assistant by address",
                          error)
    except BaseException:
        await satellites.close()
        raise
    return satellites
