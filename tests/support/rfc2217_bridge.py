"""A one-client RFC 2217 server in front of a local serial port (the host port's pty), built
on pyserial's own serial.rfc2217.PortManager, so that tests reach a "board on another host"
through `rfc2217://127.0.0.1:PORT`."""

from __future__ import annotations

import socket
import threading

import serial
import serial.rfc2217


class _Writer:
    """PortManager sends its negotiation replies with connection.write()."""

    def __init__(self, connection: socket.socket):
        self.connection = connection

    def write(self, data: bytes) -> None:
        self.connection.sendall(data)


class _PtyLines:
    """The serial port as PortManager sees it. A pty has no modem lines (their ioctls fail), so
    it reads them as idle and ignores RTS/DTR; all else goes to the port."""

    cts = dsr = ri = cd = False

    def __init__(self, port):
        object.__setattr__(self, "_port", port)

    def __getattr__(self, name):
        return getattr(self._port, name)

    def __setattr__(self, name, value):
        if name not in ("rts", "dtr"):
            setattr(self._port, name, value)


class Rfc2217Bridge:
    def __init__(self, device: str):
        self.serial = serial.serial_for_url(device, timeout=0.05)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"rfc2217://127.0.0.1:{self.server.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        connection.settimeout(0.05)
        manager = serial.rfc2217.PortManager(_PtyLines(self.serial), _Writer(connection))
        to_client = threading.Thread(target=self._device_to_client, args=(manager, connection),
                                     daemon=True)
        to_client.start()
        try:
            while not self._stop.is_set():
                try:
                    data = connection.recv(1024)
                except TimeoutError:
                    continue
                if not data:
                    break
                # filter() answers the client's option negotiation and yields the payload.
                self.serial.write(b"".join(manager.filter(data)))
        except OSError:  # the client left
            pass
        finally:
            self._stop.set()
            to_client.join()
            connection.close()

    def _device_to_client(self, manager, connection) -> None:
        while not self._stop.is_set():
            data = self.serial.read(self.serial.in_waiting or 1)
            if data:
                try:
                    connection.sendall(b"".join(manager.escape(data)))
                except OSError:
                    break

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self._thread.join(timeout=2)
        self.serial.close()
