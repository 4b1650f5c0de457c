"""Independent SigV4 check for the fake AWS servers of the integration tests: recomputes the
signature of a received request with Debian's python3-botocore and compares it with what the
server under test sent."""
import re

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
                     r"SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$")


def verify_sigv4(method, path, headers, body, secrets):
    """Recomputes the signature with botocore. `headers` has lower-case names. Returns (ok, why,
    scope) where scope is {access_key, region, service, signed_headers}. `secrets` maps access key
    id -> (secret, token)."""
    auth = headers.get("authorization", "")
    m = AUTH_RE.match(auth)
    if not m:
        return False, "no SigV4 Authorization header: %r" % auth[:120], None
    akid, date, region, service, signed, signature = m.groups()
    scope = {"access_key": akid, "region": region, "service": service, "signed_headers": signed.split(";")}
    if akid not in secrets:
        return False, "unknown access key %s" % akid, scope
    secret, token = secrets[akid]
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return False, "X-Amz-Date %r does not match the credential date %s" % (amz_date, date), scope
    if token:
        if headers.get("x-amz-security-token") != token:
            return False, "x-amz-security-token missing or wrong", scope
        if "x-amz-security-token" not in scope["signed_headers"]:
            return False, "x-amz-security-token is not signed", scope
    for required in ("host", "x-amz-date"):
        if required not in scope["signed_headers"]:
            return False, "%s is not signed" % required, scope
    signed_headers = {}
    for name in scope["signed_headers"]:
        value = headers.get(name)
        if value is None:
            return False, "signed header %s is missing from the request" % name, scope
        signed_headers[name] = value
    request = AWSRequest(method=method, url="http://%s%s" % (headers["host"], path), data=body,
                         headers=signed_headers)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(akid, secret, token), service, region)
    canonical = signer.canonical_request(request)
    if signer.signed_headers(signer.headers_to_sign(request)) != signed:
        return False, "signed header lists differ", scope
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != signature:
        return False, "signature mismatch (botocore canonical request:\n%s)" % canonical, scope
    return True, "", scope
