"""TLS and mutual TLS on the Flight port, with certificates from a throwaway CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pytest
from adbc_driver_flightsql import DatabaseOptions
from adbc_driver_manager import AdbcStatusCode
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flight_server.config import Settings, TlsSettings
from tests.service_support import running_service

Pem = tuple[bytes, bytes]  # certificate, key


def _issue(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | Pem]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as files and PEM."""
    ca = _issue("test-ca", None)
    server = _pem(*_issue("fw-flight-sql", ca))
    base = tmp_path_factory.mktemp("pki")
    paths = {"ca": base / "ca.crt", "cert": base / "tls.crt", "key": base / "tls.key"}
    paths["ca"].write_bytes(_pem(*ca)[0])
    paths["cert"].write_bytes(server[0])
    paths["key"].write_bytes(server[1])
    return {**paths, "client": _pem(*_issue("analyst", ca)), "ca_pem": _pem(*ca)}


def _query(uri: str, **options: str) -> int:
    with flight_sql.connect(uri, db_kwargs=options) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 42")
        return cursor.fetchone()[0]


def test_tls_with_a_private_ca(pki: dict) -> None:
    tls = TlsSettings(cert_file=pki["cert"], key_file=pki["key"])
    with running_service(Settings(tls=tls)) as service:
        assert service.uri.startswith("grpc+tls://")
        root = pki["ca_pem"][0].decode()
        assert _query(service.uri, **{DatabaseOptions.TLS_ROOT_CERTS.value: root}) == 42
        with pytest.raises(flight_sql.Error):
            _query(service.uri)  # the system trust store does not know the test CA


def test_mutual_tls_requires_a_client_certificate(pki: dict) -> None:
    tls = TlsSettings(cert_file=pki["cert"], key_file=pki["key"], client_ca_file=pki["ca"])
    root = {DatabaseOptions.TLS_ROOT_CERTS.value: pki["ca_pem"][0].decode()}
    client_cert, client_key = pki["client"]
    with running_service(Settings(tls=tls)) as service:
        with_cert = {
            **root,
            DatabaseOptions.MTLS_CERT_CHAIN.value: client_cert.decode(),
            DatabaseOptions.MTLS_PRIVATE_KEY.value: client_key.decode(),
        }
        assert _query(service.uri, **with_cert) == 42
        with pytest.raises(flight_sql.Error):
            _query(service.uri, **root)


def test_plaintext_to_a_tls_server_fails_cleanly(pki: dict) -> None:
    tls = TlsSettings(cert_file=pki["cert"], key_file=pki["key"])
    root = {DatabaseOptions.TLS_ROOT_CERTS.value: pki["ca_pem"][0].decode()}
    with running_service(Settings(tls=tls)) as service:
        plaintext = service.uri.replace("grpc+tls://", "grpc://")
        with pytest.raises(flight_sql.Error) as caught:
            _query(plaintext)
        assert caught.value.status_code == AdbcStatusCode.IO
        assert _query(service.uri, **root) == 42, "the server keeps serving TLS clients"
