"""The course's TLS files: a local certificate authority and a server certificate.

Made once with trustme and kept in ``certs/`` (git-ignored). Servers use
``certs/server.pem`` and ``certs/server-key.pem``; clients trust ``certs/ca.pem``,
so no example ever needs ``verify=False``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

CERTS = Path(__file__).resolve().parent.parent / "certs"


def make_certs(directory: Path = CERTS, force: bool = False) -> Path:
    """Create the CA and a certificate for localhost and 127.0.0.1 (if missing)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "server-key.pem").exists() and not force:
        return directory
    ca = trustme.CA(organization_name="Quart course local CA")
    cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
    ca.cert_pem.write_to_path(directory / "ca.pem")
    cert.private_key_pem.write_to_path(directory / "server-key.pem")
    (directory / "server-key.pem").chmod(0o600)
    with open(directory / "server.pem", "wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    return directory


def server_files() -> tuple[str, str]:
    """Paths of the server certificate and key, made on first use."""
    make_certs()
    return str(CERTS / "server.pem"), str(CERTS / "server-key.pem")


def client_context() -> ssl.SSLContext:
    """An SSL context that trusts the course CA: ``httpx.Client(verify=client_context())``."""
    make_certs()
    return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
