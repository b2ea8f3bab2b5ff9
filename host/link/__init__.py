"""Bluetooth for the host: adapters, our Bumble bleak backend, pairing, the device registry and EarbudLink.

Everything goes through bleak, so the same code drives a real earbud on BlueZ/macOS/Windows (`native`), a USB
dongle driven by Bumble (`usb:N`) and the simulated earbud on a virtual radio (`sim:HOST:PORT`).

Public API: `EarbudLink`, `LinkStats`, `LinkRefusedError` (earbud_link), `resolve_adapter`/`parse_adapter`/
`adapter_spec`/`Adapter` (adapter), `DeviceRegistry`/`PairedDevice` (registry), and `scan_earbuds`,
`pair_earbud`, `forget_earbud`, `resolve_paired` (earbuds). Import from the submodules; this file stays
light so that `import host.link` costs nothing.
"""
