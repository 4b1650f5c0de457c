"""Raw HTTP/2 frames for the hardening tests: what a hostile client sends, byte for byte, without
an HTTP/2 library's state machine in the way (python3-hpack encodes the header blocks).

A RawH2 connects, sends the connection preface and an empty SETTINGS frame, and reads the server's
frames on a background thread into counters: SETTINGS values, RST_STREAM error codes, GOAWAY,
HEADERS/DATA per stream, and whether the server closed the connection (end of stream or reset:
never a timeout of ours). It acknowledges the server's SETTINGS and answers PINGs, as a client
must, unless told not to acknowledge (ack_settings=False).
"""
import select
import socket
import struct
import threading
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
REFUSED_STREAM, CANCEL = 0x7, 0x8


class SendStalled(Exception):
    """The server neither read what was sent nor closed the connection."""


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


def grpc_headers(path, authority="localhost"):
    """A gRPC request header block (one encoder per block: no dynamic-table state across blocks)."""
    return hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                                   (":authority", authority), ("content-type", "application/grpc"),
                                   ("te", "trailers")])


def rest_headers(method, path, authority="localhost", extra=()):
    return hpack.Encoder().encode([(":method", method), (":scheme", "http"), (":path", path),
                                   (":authority", authority)] + list(extra))


class RawH2:
    def __init__(self, port, host="127.0.0.1", source="127.0.0.1", send_preface=True, ack_settings=True):
        self.sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
        self.sock.settimeout(None)  # `closed` must mean the server closed, not that it was quiet
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ack_settings = ack_settings
        self.settings = {}
        self.rst = {}          # error code -> count
        self.goaway = None     # (last stream id, error code)
        self.closed = False
        self.headers = {}      # stream id -> list of decoded header lists
        self.data = {}         # stream id -> bytes
        self.ended = set()     # streams the server ended
        self.frames = 0
        self.decoder = hpack.Decoder()
        self.lock = threading.Lock()
        if send_preface:
            self.send(PREFACE + frame(SETTINGS, 0, 0))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, data, timeout=10.0):
        """Sends everything; OSError when the server closed the connection, SendStalled when it
        neither reads nor closes within `timeout`."""
        view = memoryview(data)
        end = time.time() + timeout
        while view:
            _, writable, _ = select.select([], [self.sock], [], max(0.0, end - time.time()))
            if not writable:
                raise SendStalled("the server did not read %d bytes in %.0f s" % (len(view), timeout))
            try:
                view = view[self.sock.send(view, socket.MSG_DONTWAIT):]
            except BlockingIOError:
                pass

    def _read(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 9:
                    length = int.from_bytes(buf[0:3], "big")
                    if len(buf) < 9 + length:
                        break
                    ftype, flags = buf[3], buf[4]
                    sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    payload = buf[9:9 + length]
                    buf = buf[9 + length:]
                    self._on_frame(ftype, flags, sid, payload)
        except OSError:
            pass
        with self.lock:
            self.closed = True

    def _on_frame(self, ftype, flags, sid, payload):
        with self.lock:
            self.frames += 1
            if ftype == SETTINGS and not flags & 0x1:
                for i in range(0, len(payload) - 5, 6):
                    ident, value = struct.unpack(">HI", payload[i:i + 6])
                    self.settings[ident] = value
                if self.ack_settings:
                    try:
                        self.sock.sendall(frame(SETTINGS, 0x1, 0))
                    except OSError:
                        pass
            elif ftype == RST_STREAM:
                code = struct.unpack(">I", payload[:4])[0]
                self.rst[code] = self.rst.get(code, 0) + 1
            elif ftype == GOAWAY:
                self.goaway = struct.unpack(">II", payload[:8])
            elif ftype == PING and not flags & 0x1:
                try:
                    self.sock.sendall(frame(PING, 0x1, 0, payload))
                except OSError:
                    pass
            elif ftype in (HEADERS, CONTINUATION):
                block = payload
                if ftype == HEADERS and flags & 0x8:  # PADDED
                    block = block[1:len(block) - block[0]]
                if ftype == HEADERS and flags & 0x20:  # PRIORITY
                    block = block[5:]
                self.headers.setdefault(sid, []).append(self.decoder.decode(block))
            elif ftype == DATA:
                self.data[sid] = self.data.get(sid, b"") + payload
            if flags & END_STREAM and ftype in (HEADERS, DATA):
                self.ended.add(sid)

    def wait(self, predicate, timeout=10.0):
        """Waits until predicate(self) holds (checked under the lock); returns whether it did."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        with self.lock:
            return predicate(self)

    def close(self):
        # shutdown first: close() alone leaves the socket open while the reader thread sits in
        # recv(), and the server would never see the client go
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
