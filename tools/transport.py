"""Opening the link to a device: a serial port, `socket://host:port` (QEMU, Renode), a pty, or
any other pyserial URL (`loop://` in tests). With no port given, the board is found by its USB
VID:PID."""

from __future__ import annotations

from tinyml_pipeline.tools.device import ProtocolError

# USB IDs the Arduino Nano 33 BLE (Sense) enumerates with: the mbed core's sketch CDC port, and
# the bootloader's (double-tap reset).
BOARD_USB_IDS = {
    (0x2341, 0x805A): "Arduino Nano 33 BLE",
    (0x2341, 0x005A): "Arduino Nano 33 BLE (bootloader)",
}
DEFAULT_BAUDRATE = 1_000_000  # USB CDC ignores it; Serial1 builds use 115200
READ_POLL_S = 0.05  # how long one transport read may wait; Device applies the real timeouts


class PortNotFound(ProtocolError):
    """No port was given and not exactly one board is plugged in."""


def _describe(port) -> str:
    ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else "no USB id"
    return f"{port.device} ({ids}, {port.description})"


def _serial_ports() -> list:
    from serial.tools import list_ports

    return list_ports.comports()


def board_ports(ports=None) -> list:
    """The serial ports (pyserial ListPortInfo) of every Nano 33 BLE plugged in."""
    ports = _serial_ports() if ports is None else ports
    return [port for port in ports if (port.vid, port.pid) in BOARD_USB_IDS]


def find_board_port(ports=None) -> str:
    """The device path of the one Nano 33 BLE plugged in; PortNotFound, listing what was found,
    when there is none or more than one."""
    ports = _serial_ports() if ports is None else ports
    boards = board_ports(ports)
    if len(boards) == 1:
        return boards[0].device
    found = "; ".join(_describe(port) for port in (boards or ports)) or "no serial ports at all"
    if not boards:
        raise PortNotFound(f"no Arduino Nano 33 BLE found (USB 2341:805a); ports: {found}. "
                           "Plug it in, or give --port")
    raise PortNotFound(f"{len(boards)} boards found: {found}. Choose one with --port")


def open_transport(port: str | None = None, baudrate: int = DEFAULT_BAUDRATE):
    """A pyserial port for `port` (a device path or a pyserial URL), or for the one board found
    by USB id when `port` is None. Reads return what arrived within READ_POLL_S."""
    import serial

    if port is None:
        port = find_board_port()
    # pyserial's RFC 2217 client refuses a write timeout (NotImplementedError); its writes go
    # to a TCP socket, which does not block on a stuck device the way a serial port can.
    limits = {} if str(port).startswith("rfc2217://") else {"write_timeout": 5}
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=READ_POLL_S, **limits)
    except (serial.SerialException, ValueError, OSError) as error:
        raise ProtocolError(f"cannot open {port}: {error}") from None
