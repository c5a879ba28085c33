"""TLS listeners: check an `ssl:` endpoint's certificate and key before listening on it.

Rules:
- Twisted's `ssl:` server endpoint does the TLS (`ssl:PORT:privateKey=KEY.pem:certKey=CERT.pem`,
  `certKey` defaulting to `privateKey`, so one PEM file may hold both). This module only checks
  the files first, because Twisted's own errors name neither the file nor the problem (an
  unreadable key is `[('DECODER routines', '', 'unsupported')]`).
- A problem is a `TLSConfigError` whose message is one line naming the file and what is wrong
  with it; the service turns it into the start-up error and exit code 1.
- An expired certificate is not refused: servers start with one (clients will complain), and
  refusing would turn a renewal that is late by a minute into an outage.
"""

from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# The keyword names of Twisted's ssl: server endpoint (`_parseSSL`), in positional order after
# the port: `ssl:443:server.pem` means privateKey=server.pem.
_POSITIONAL = ("port", "privateKey")
_DEFAULT_KEY = "server.pem"


class TLSConfigError(ValueError):
    """An ssl: endpoint's certificate or key cannot be used; the message is one line."""


def split_endpoint(description: str) -> list[str]:
    """The colon-separated fields of an endpoint string, with Twisted's `\\` escapes undone."""
    fields: list[str] = []
    current: list[str] = []
    characters = iter(description)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
    fields.append("".join(current))
    return fields


def tls_files(description: str) -> tuple[str, str] | None:
    """(private key path, certificate path) of an `ssl:` endpoint string; None for any other."""
    kind, *fields = split_endpoint(description)
    if kind.lower() != "ssl":
        return None
    options: dict[str, str] = {}
    positional = iter(_POSITIONAL)
    for field in fields:
        name, equals, value = field.partition("=")
        if equals:
            options[name] = value
        else:
            options[next(positional, "extra")] = field
    key = options.get("privateKey", _DEFAULT_KEY)
    return key, options.get("certKey", key)


def check_tls_endpoint(description: str) -> None:
    """Raise `TLSConfigError` when `description` is an ssl: endpoint with unusable files."""
    files = tls_files(description)
    if files is None:
        return
    key_path, cert_path = files
    key_pem = _read(key_path, "privateKey")
    cert_pem = key_pem if cert_path == key_path else _read(cert_path, "certKey")
    try:
        key = load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TLSConfigError(
            f"privateKey {key_path} is encrypted; give an unencrypted key"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSConfigError(f"privateKey {key_path} holds no usable PEM private key") from None
    try:
        certificates = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise TLSConfigError(f"certKey {cert_path} holds no PEM certificate") from None
    if certificates[0].public_key() != key.public_key():
        raise TLSConfigError(
            f"the certificate in {cert_path} does not match the private key in {key_path}"
        )


def _read(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as problem:
        raise TLSConfigError(f"{option} {path}: {problem.strerror or problem}") from None
