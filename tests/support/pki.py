"""Throwaway test PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost,
and an RSA key + self-signed certificate for signing registry bearer tokens."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

OPENSSL = "openssl"


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which(OPENSSL) is None:
        raise RuntimeError("the openssl CLI is needed to make test certificates (apt-get install openssl)")
    proc = subprocess.run([OPENSSL, *args], cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')}")


@dataclass(frozen=True)
class TestPKI:
    """Paths of the generated PEM files (and the token key's RSA numbers)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    token_cert: Path
    token_key: Path
    token_cert_der: bytes
    token_rsa: Tuple[int, int]  # (n, d)


def _der_read(data: bytes, pos: int) -> Tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _der_sequence(data: bytes) -> List[bytes]:
    tag, start, end = _der_read(data, 0)
    if tag != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    items = []
    pos = start
    while pos < end:
        item_tag, item_start, item_end = _der_read(data, pos)
        items.append(data[pos:item_end])
        pos = item_end
    return items


def _der_int(element: bytes) -> int:
    tag, start, end = _der_read(element, 0)
    if tag != 0x02:
        raise ValueError("expected a DER INTEGER")
    return int.from_bytes(element[start:end], "big")


def rsa_numbers(key_pem: Path, cwd: Path) -> Tuple[int, int]:
    """(modulus n, private exponent d) of an RSA private key, read from its PKCS#1 DER form."""
    der_path = cwd / (key_pem.name + ".der")
    _openssl("rsa", "-in", str(key_pem), "-outform", "DER", "-traditional", "-out", str(der_path), cwd=cwd)
    fields = _der_sequence(der_path.read_bytes())
    der_path.unlink()
    # RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv }
    return _der_int(fields[1]), _der_int(fields[3])


def make_test_pki(directory: Path) -> TestPKI:
    """Generate all test keys and certificates under `directory` (about a second)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "3", "-subj", "/CN=kocache test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=d,
    )
    (d / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "3", "-extfile", "server.ext",
        cwd=d,
    )
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key", "-out", "token.crt",
        "-days", "3", "-subj", "/CN=kocache test token issuer",
        cwd=d,
    )
    _openssl("x509", "-in", "token.crt", "-outform", "DER", "-out", "token.der", cwd=d)
    return TestPKI(
        directory=d,
        ca_cert=d / "ca.crt",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        token_cert=d / "token.crt",
        token_key=d / "token.key",
        token_cert_der=(d / "token.der").read_bytes(),
        token_rsa=rsa_numbers(d / "token.key", d),
    )
