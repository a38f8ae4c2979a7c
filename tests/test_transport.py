"""Finding the board by USB id and opening links through pyserial URLs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tinyml_pipeline.tools.device import Device, DeviceTimeout
from tinyml_pipeline.tools.transport import PortNotFound, find_board_port, open_transport


def _port(device, vid=None, pid=None, description="n/a"):
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description)


def test_the_one_board_is_found_by_usb_id():
    ports = [_port("/dev/ttyS0"), _port("/dev/ttyACM0", 0x2341, 0x805A, "Nano 33 BLE"),
             _port("/dev/ttyUSB0", 0x0403, 0x6001, "FT232R")]
    assert find_board_port(ports) == "/dev/ttyACM0"


def test_no_board_lists_the_ports_that_are_there():
    with pytest.raises(PortNotFound, match=r"no Arduino Nano 33 BLE.*ttyUSB0 \(0403:6001"):
        find_board_port([_port("/dev/ttyUSB0", 0x0403, 0x6001, "FT232R")])
    with pytest.raises(PortNotFound, match="no serial ports at all"):
        find_board_port([])


def test_several_boards_ask_for_a_choice():
    ports = [_port("/dev/ttyACM0", 0x2341, 0x805A), _port("/dev/ttyACM1", 0x2341, 0x005A)]
    with pytest.raises(PortNotFound, match="2 boards found.*ttyACM0.*ttyACM1.*--port"):
        find_board_port(ports)


def test_a_port_that_cannot_be_opened_is_one_clear_error():
    with pytest.raises(Exception, match="cannot open /dev/does-not-exist"):
        open_transport("/dev/does-not-exist")


def test_an_echoing_link_is_a_device_that_does_not_answer():
    """loop:// echoes every byte: the requests come back, are not replies, and the request ends
    in a clear timeout instead of a hang."""
    with Device(open_transport("loop://"), timeout=0.3) as device:
        with pytest.raises(DeviceTimeout, match="did not answer HELLO within 0.3 s"):
            device.hello()
