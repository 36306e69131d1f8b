"""Checks Bedrock requests' SigV4 signatures with botocore, independently of the gateway's
signer and of the mock's own check.

Usage: python verify_sigv4.py REQUESTS.json

REQUESTS.json: {"secret_key": "...", "requests": [{"url", "headers": [[name, value]...],
"body_b64"}]}, the requests as the mock recorded them. For each, botocore recomputes the
signature over the headers the request says it signed, at the X-Amz-Date it carries, and the
script fails unless it equals the one sent. Prints how many were verified.
"""

import base64
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def verify(secret_key, r):
    headers = {}
    for name, value in r["headers"]:
        headers[name.lower()] = value
    auth = headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 "), auth
    fields = dict(
        part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    access_key, _date, region, service, _ = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    creds = Credentials(access_key, secret_key, headers.get("x-amz-security-token"))
    request = AWSRequest(
        method="POST",
        url=r["url"],
        data=base64.b64decode(r["body_b64"]),
        headers={name: headers[name] for name in signed},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(creds, service, region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    if signature != fields["Signature"]:
        raise SystemExit(
            f"SigV4 mismatch for {r['url']}:\n  sent     {fields['Signature']}\n"
            f"  botocore {signature}\n  canonical request:\n{canonical}"
        )


def main():
    spec = json.load(open(sys.argv[1]))
    for r in spec["requests"]:
        verify(spec["secret_key"], r)
    print(f"botocore verified {len(spec['requests'])} SigV4 signatures")


if __name__ == "__main__":
    main()
