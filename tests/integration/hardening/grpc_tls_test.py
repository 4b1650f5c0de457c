"""The gRPC front's protections on its TLS port (issues 15 and 19): with --tls-cert the acceptor
terminates TLS itself (OpenSSL) and relays the plaintext through the HTTP/2 frame guard to grpc
core, so everything fronts_test.py proves on the plaintext port holds over TLS too. Each test
speaks TLS with ALPN h2 from python's ssl module (raw HTTP/2 frames inside) or grpcio's secure
channel. Certificates are made with the openssl command line. Prints `N passed, N failed`.
"""
import os
import resource
import shutil
import socket
import ssl
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from harness import Server, find_generated_python, make_pki, run_tests  # noqa: E402
from h2raw import PREFACE, SETTINGS, frame  # noqa: E402

find_generated_python()
from fronts_test import RECOMMEND, latencies, rapid_reset_keeps_other_clients_served  # noqa: E402

import grpc  # noqa: E402

PKI = tempfile.mkdtemp(prefix="pz-tls-pki-")


def pki(name):
    return os.path.join(PKI, name)


def tls_args(*extra):
    return ["--demo", "--tls-cert", pki("server.pem"), "--tls-key", pki("server.key")] + list(extra)


def client_context(alpn=("h2",), cert=False):
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert:
        ctx.load_cert_chain(pki("client.pem"), pki("client.key"))
    return ctx


def grpc_creds(cert=False):
    def read(name):
        with open(pki(name), "rb") as f:
            return f.read()
    return grpc.ssl_channel_credentials(root_certificates=read("ca.pem"),
                                        private_key=read("client.key") if cert else None,
                                        certificate_chain=read("client.pem") if cert else None)


class TlsH2:
    """An HTTP/2 connection over TLS, driven from one thread (an SSL connection is not safe to read
    and write from two): the TLS handshake (ssl.SSLError when the server refuses it), the preface and
    an empty SETTINGS frame; server_settings() reads frames until the server's SETTINGS."""

    def __init__(self, port, ctx=None, source="127.0.0.1"):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        try:
            self.sock = (ctx or client_context()).wrap_socket(raw, server_hostname="127.0.0.1")
        except BaseException:
            raw.close()
            raise
        self.buf = b""
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def server_settings(self, timeout=10):
        """True once the server's SETTINGS arrived (acknowledged); False if the server closed first or
        stayed quiet for `timeout`."""
        self.sock.settimeout(timeout)
        try:
            while True:
                while len(self.buf) >= 9:
                    length = int.from_bytes(self.buf[0:3], "big")
                    if len(self.buf) < 9 + length:
                        break
                    ftype, flags = self.buf[3], self.buf[4]
                    self.buf = self.buf[9 + length:]
                    if ftype == SETTINGS and not flags & 0x1:
                        self.sock.sendall(frame(SETTINGS, 0x1, 0))
                        return True
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return False
                self.buf += chunk
        except OSError:  # reset, a TLS alert, or the timeout
            return False

    @staticmethod
    def handshakes(port):
        """Whether a client with a certificate gets the server's SETTINGS (the port is up)."""
        try:
            c = TlsH2(port, client_context(cert=True))
        except OSError:
            return False
        try:
            return c.server_settings(5)
        finally:
            c.close()

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def closed_within(sock, seconds):
    """Whether the server closes `sock` (EOF, reset or a TLS alert) within `seconds`, having sent no
    application data."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1 << 16) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def refused(port, ctx, source="127.0.0.1"):
    """Whether a TLS client with ctx never gets to HTTP/2: its handshake fails, or the server closes
    the connection before sending its SETTINGS."""
    try:
        c = TlsH2(port, ctx, source)
    except OSError:
        return True
    try:
        return not c.server_settings(5)
    finally:
        c.close()


def own_server(*args, mtls=False):
    srv = Server(sys.argv[1], args=tls_args(*args))
    if mtls:
        srv.wait_healthy = lambda deadline: None  # /healthz needs a client certificate too
    srv.start()
    if mtls:
        deadline = time.time() + 60
        while not TlsH2.handshakes(srv.grpc_port) and time.time() < deadline:
            time.sleep(0.1)
    return srv


def test_tls_rapid_reset_cut_off_while_tls_clients_are_served(s):
    """fronts_test's rapid-reset flood over TLS: the attacker and the grpcio client both speak TLS."""
    def connect(source):
        c = TlsH2(s.grpc_port, source=source)
        if not c.server_settings(5):
            c.close()
            raise OSError("cut off")
        c.sock.settimeout(5)
        return c

    rapid_reset_keeps_other_clients_served(s, connect, grpc_creds())


def test_tls_per_client_connection_cap(s):
    """--max-connections-per-client 3 on the TLS port: a 4th connection from one address is closed at
    accept (before any TLS), another address is served, a closed connection frees its slot."""
    srv = own_server("--max-connections-per-client", "3")
    conns = []
    try:
        for _ in range(3):
            conns.append(TlsH2(srv.grpc_port))
        for c in conns:
            assert c.server_settings(), "no SETTINGS over TLS"
        extra = socket.create_connection(("127.0.0.1", srv.grpc_port))
        assert closed_within(extra, 2), "a 4th connection from one address was served"
        extra.close()
        try:
            TlsH2(srv.grpc_port).close()
            raise AssertionError("a 4th TLS handshake from one address succeeded")
        except OSError:
            pass
        other = TlsH2(srv.grpc_port, source="127.0.0.3")
        assert other.server_settings(), "another address was refused"
        other.close()
        conns.pop(0).close()
        time.sleep(0.3)
        again = TlsH2(srv.grpc_port)
        conns.append(again)
        assert again.server_settings(), "a slot was not released"
        assert "per-address limit" in srv.read_log()
    finally:
        for c in conns:
            c.close()
        srv.stop()
        srv.cleanup()


def test_tls_handshake_timeout(s):
    """--grpc-handshake-timeout-ms 500 on the TLS port: a client that stops after its ClientHello,
    one that sends nothing, and one that finishes the TLS handshake but never sends the HTTP/2
    preface are each closed after the timeout (not at once), and a slow but complete client is
    served."""
    srv = own_server("--grpc-handshake-timeout-ms", "500")
    try:
        out, inc = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_context().wrap_bio(inc, out, server_hostname="127.0.0.1")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        assert hello[:1] == b"\x16", hello[:8]  # a TLS handshake record
        stalled = socket.create_connection(("127.0.0.1", srv.grpc_port), source_address=("127.0.0.4", 0))
        stalled.sendall(hello)
        silent = socket.create_connection(("127.0.0.1", srv.grpc_port), source_address=("127.0.0.5", 0))
        no_preface = client_context().wrap_socket(
            socket.create_connection(("127.0.0.1", srv.grpc_port), source_address=("127.0.0.6", 0)),
            server_hostname="127.0.0.1")
        t0 = time.time()
        for name, sock in (("after its ClientHello", stalled), ("silent", silent), ("without preface", no_preface)):
            sock.settimeout(3)
            try:
                while sock.recv(1 << 16):  # the ServerHello flight, for the stalled one
                    pass
            except socket.timeout:
                raise AssertionError("a client %s stayed open" % name)
            except OSError:
                pass
            took = time.time() - t0
            assert 0.3 < took < 2.5, (name, took)
            sock.close()
        slow = TlsH2(srv.grpc_port, source="127.0.0.7")
        assert slow.server_settings(), "a complete client was not served"
        slow.close()
    finally:
        srv.stop()
        srv.cleanup()


def test_tls_client_without_h2_in_alpn_is_refused(s):
    """grpc clients require ALPN h2: a client offering only http/1.1 fails the handshake
    (no_application_protocol), one offering no ALPN at all is closed before HTTP/2; one offering
    h2 among others is served."""
    try:
        client_context(alpn=("http/1.1",)).wrap_socket(
            socket.create_connection(("127.0.0.1", s.grpc_port), timeout=10), server_hostname="127.0.0.1").close()
        raise AssertionError("a handshake without h2 in ALPN succeeded")
    except ssl.SSLError as e:
        assert "no application protocol" in str(e).lower(), e
    assert refused(s.grpc_port, client_context(alpn=None)), "a client without ALPN got HTTP/2"
    ok = TlsH2(s.grpc_port, client_context(alpn=("http/1.1", "h2")))
    assert ok.sock.selected_alpn_protocol() == "h2"
    assert ok.server_settings(), "a client offering h2 second was not served"
    ok.close()


def test_tls_mtls_refuses_a_client_without_certificate(s):
    """--tls-client-ca on the relayed TLS port: a client without a certificate never gets to HTTP/2
    (nor to a call), one with a certificate the CA signed is served; the refused one did not count
    against the per-address cap."""
    srv = own_server("--tls-client-ca", pki("ca.pem"), "--max-connections-per-client", "2", mtls=True)
    try:
        for _ in range(3):
            assert refused(srv.grpc_port, client_context()), "a client without a certificate got HTTP/2"
        ch = grpc.secure_channel(srv.grpc_target, grpc_creds())
        try:
            ch.unary_unary(RECOMMEND)(b"", timeout=5)
            raise AssertionError("a call without a client certificate went through")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e
        ch.close()
        good = TlsH2(srv.grpc_port, client_context(cert=True))
        assert good.server_settings(), "a client with a certificate was not served"
        good.close()
        lat, errors = latencies(srv.grpc_target, 0.5, grpc_creds(cert=True))
        assert errors == 0 and lat, errors
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    try:
        make_pki(PKI)
        # two relay threads: TLS connections are terminated on either (accept.h)
        run_tests(globals(), server_args=tls_args() + ["--grpc-relay-threads", "2"])
    finally:
        shutil.rmtree(PKI, ignore_errors=True)
