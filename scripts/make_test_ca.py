"""Make a local test CA and a C2PA signing certificate for development and CI.

    python scripts/make_test_ca.py [OUT_DIR]     # default: .c2pa-test/ (git-ignored)

Writes `ca.pem` (the trust anchor), `signer.key` (P-256 private key) and
`signer_chain.pem` (signing certificate, then the CA) into OUT_DIR and prints
the environment variables that make `imagegen generate` sign with them. A test
chain is not on any C2PA trust list: readers report it as untrusted unless told
to trust `ca.pem` (IMAGEGEN_C2PA_TRUST_ANCHORS). Never use it for a deployment.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imagegen test"),
        ]
    )


def make_test_ca(out_dir: Path, days: int = 365) -> dict[str, Path]:
    """Write a CA and an end-entity C2PA signing certificate; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("imagegen test CA"))
        .issuer_name(_name("imagegen test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("imagegen test signer"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # C2PA: an end-entity certificate with digitalSignature only.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = {
        "ca": out_dir / "ca.pem",
        "key": out_dir / "signer.key",
        "chain": out_dir / "signer_chain.pem",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(pem))
    paths["chain"].write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    paths["key"].write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["key"].chmod(0o600)
    return paths


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".c2pa-test").absolute()
    paths = make_test_ca(out)
    sys.stdout.write(f"export IMAGEGEN_C2PA_SIGN_KEY={paths['key']}\n")
    sys.stdout.write(f"export IMAGEGEN_C2PA_SIGN_CERTS={paths['chain']}\n")
    sys.stdout.write(f"export IMAGEGEN_C2PA_TRUST_ANCHORS={paths['ca']}\n")


if __name__ == "__main__":
    main()
