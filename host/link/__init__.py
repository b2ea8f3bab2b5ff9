"""Bluetooth for the host: adapters, our Bumble bleak backend, pairing, the device registry and EarbudLink.

Everything goes through bleak, so the same code drives a real earbud on BlueZ/macOS/Windows (`native`), a USB
dongle driven by Bumble (`usb:N`) and the simulated earbud on a virtual radio (`sim:HOST:PORT`).

Layers, as in bleak and h11: `earbud_protocol.EarbudProtocol` (sans I/O: HELLO, status, audio decode, quiet gate,
LinkStats), `earbud_link.EarbudLink` (the bleak I/O shell, reconnecting through `reconnector.Reconnector`),
`adapter.Adapter` (the one interface to a backend: bleak backend choice, pairing, bonds, backend errors) and
`bumble_backend/` (which nothing but the Adapter imports).

Public API: `EarbudLink`, `LinkStats` (earbud_link), `resolve_adapter`/`parse_adapter`/`adapter_spec`/`Adapter`
(adapter), `DeviceRegistry`/`PairedDevice` (registry), `scan_earbuds`, `pair_earbud`, `forget_earbud`,
`resolve_paired` (earbuds), and the errors (errors: all EarpieceError). Import from the submodules; this file
stays light so that `import host.link` costs nothing.
"""
