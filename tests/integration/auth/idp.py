"""A local stand-in for an OAuth2 identity provider (Cognito-shaped), for the auth integration tests.

Keys and tokens are made here with python3-jwt and python3-cryptography (Debian), independently of
the server's code; the JWKS is served by a local HTTP server whose answers the tests control (add a
key while serving, go down). Nothing here is imported by the server.
"""
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

REGION_POOL = "us-east-1_Test42"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/" + REGION_POOL
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, kid, kind):
        self.kid = kid
        self.alg = "RS256" if kind == "rsa" else "ES256"
        self.private = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(
            ec.SECP256R1())
        self.public = self.private.public_key()

    def jwk(self):
        algo = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        d = json.loads(algo.to_jwk(self.public))
        d.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return d

    def public_pem(self):
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class IdP:
    """Signing keys, a JWKS endpoint, and a token factory shaped like Cognito access tokens."""

    def __init__(self):
        self.keys = {}
        self.published = []
        self.down = False
        self.fetches = 0
        self.lock = threading.Lock()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with idp.lock:
                    idp.fetches += 1
                    down = idp.down
                    body = json.dumps({"keys": [idp.keys[k].jwk() for k in idp.published]}).encode()
                if down:
                    self.send_response(503)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.jwks_url = "http://127.0.0.1:%d/.well-known/jwks.json" % self.http.server_address[1]

    def add_key(self, kid, kind="rsa", publish=True):
        self.keys[kid] = SigningKey(kid, kind)
        if publish:
            self.publish(kid)
        return self.keys[kid]

    def publish(self, kid):
        with self.lock:
            self.published.append(kid)

    def fetch_count(self):
        with self.lock:
            return self.fetches

    def set_down(self, down):
        with self.lock:
            self.down = down

    def claims(self, sub, **overrides):
        now = int(time.time())
        c = {"sub": sub, "iss": ISSUER, "client_id": CLIENT_ID, "token_use": "access", "scope": "openid",
             "auth_time": now, "iat": now, "exp": now + 3600, "jti": "%s-%f" % (sub, time.time()),
             "username": sub}
        c.update(overrides)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, sub, kid="rsa-1", headers=None, **claims):
        key = self.keys[kid]
        h = {"kid": kid}
        h.update(headers or {})
        return jwt.encode(self.claims(sub, **claims), key.private, algorithm=key.alg, headers=h)

    def stop(self):
        self.http.shutdown()


def unsigned_token(claims, kid="rsa-1"):
    """alg "none": RFC 8725 §2.1."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return "%s.%s." % (header, b64url(json.dumps(claims).encode()))


def hs256_with_public_key(claims, key):
    """HS256 keyed with the RSA public key's PEM: the algorithm-confusion attack (RFC 8725 §2.1)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    mac = hmac.new(key.public_pem(), ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (header, payload, b64url(mac))
