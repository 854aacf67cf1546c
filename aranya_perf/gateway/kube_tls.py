"""TLS of the gateway's Kubernetes face: the gateway's own certificate, else a fresh self-signed one.

Always TLS: kubectl sends no credentials (the bearer token) to a plain http server. The PEM
returned beside the context is what the face's kubeconfig tells clients to trust.
"""

from __future__ import annotations

import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aranya_perf.gateway.config import GatewayConfig


def server_ssl_context(config: GatewayConfig, host: str) -> tuple[ssl.SSLContext, bytes]:
    """(HTTPS server context, PEM its clients trust): the gateway's TLS files when given, else a fresh
    self-signed certificate for ``host``. Always TLS: kubectl sends no credentials to an http server."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if config.tls:
        ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)  # type: ignore[arg-type]
        if config.tls_client_ca_file is not None:
            ctx.load_verify_locations(config.tls_client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx, Path(config.tls_cert_file).read_bytes()  # type: ignore[arg-type]
    cert, key = self_signed(host)
    with tempfile.TemporaryDirectory() as tmp:  # ssl loads keys from files only
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert


def self_signed(host: str, days: int = 7) -> tuple[bytes, bytes]:
    """(certificate, key) PEM: an EC P-256 server certificate for ``host``, localhost and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for h in {host, "127.0.0.1"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aranya-perf kube face")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
