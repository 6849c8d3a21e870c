"""A throw-away self-signed certificate for go-plugin's automatic mutual TLS.

When the host runs with AutoMTLS it passes its own client certificate in
PLUGIN_CLIENT_CERT and expects the plugin to answer with a server
certificate, base64 (standard alphabet, no padding) of the DER bytes, as
the sixth field of the handshake line. The host then trusts exactly that
certificate for the name "localhost", so the certificate must:

- name localhost in its subject alternative names,
- be its own issuer and a CA (the host uses it as its root),
- allow serverAuth and clientAuth.
"""

import os
import shutil
import ssl
import subprocess
import tempfile

# The certificate lives as long as the plugin process; ten years keeps a
# long-running plugin away from expiry.
_DAYS = 3650


class CertError(RuntimeError):
    """No certificate could be made."""


def self_signed_localhost(backend="auto"):
    """Return (cert_pem, key_pem, cert_der) of a fresh P-256 certificate.

    backend is "cryptography" (the python3-cryptography module), "openssl"
    (the openssl command, 1.1.1 or later) or "auto" (the module when it
    imports, else the command).
    """
    if backend not in ("auto", "cryptography", "openssl"):
        raise ValueError("unknown certificate backend %r" % (backend,))
    if backend in ("auto", "cryptography"):
        try:
            return _with_cryptography()
        except ImportError as e:
            if backend == "cryptography":
                raise CertError("python3-cryptography is not installed: %s" % e) from e
    return _with_openssl()


def _with_cryptography():
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER)


def _with_openssl():
    exe = shutil.which("openssl")
    if exe is None:
        raise CertError("cannot make a TLS certificate: neither python3-cryptography nor the openssl command is installed")
    with tempfile.TemporaryDirectory(prefix="causalrec-plugin-") as d:
        key_path = os.path.join(d, "key.pem")
        cert_path = os.path.join(d, "cert.pem")
        cmd = [
            exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key_path, "-out", cert_path, "-days", str(_DAYS),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth",
        ]
        run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if run.returncode != 0:
            raise CertError("openssl req failed (exit %d): %s" % (run.returncode, run.stderr.decode(errors="replace").strip()))
        with open(cert_path, "rb") as f:
            cert_pem = f.read()
        with open(key_path, "rb") as f:
            key_pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))
    return cert_pem, key_pem, der
