"""chathub.tls: ssl: endpoint strings are read as Twisted reads them, bad files named clearly."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from chathub.tls import TLSConfigError, check_tls_endpoint, split_endpoint, tls_files
from tests.certs import certificate_pem, key_pem, make_key, write_pair


def test_split_endpoint_undoes_backslash_escapes() -> None:
    """A `\\:` inside a field is a colon of the value, not a separator."""
    assert split_endpoint(r"ssl:0:privateKey=C\:/k.pem") == ["ssl", "0", "privateKey=C:/k.pem"]


def test_tls_files_ignores_other_endpoints() -> None:
    """tcp: and unix: endpoints have no TLS files."""
    assert tls_files("tcp:1025:interface=127.0.0.1") is None
    assert tls_files("unix:/tmp/chat.sock") is None


def test_tls_files_reads_key_and_certificate() -> None:
    """privateKey and certKey are taken from their keyword fields."""
    files = tls_files("ssl:0:interface=127.0.0.1:privateKey=k.pem:certKey=c.pem")
    assert files == ("k.pem", "c.pem")


def test_tls_files_certificate_defaults_to_key_file() -> None:
    """Without certKey the certificate is read from the privateKey file, as Twisted does."""
    assert tls_files("ssl:443:privateKey=both.pem") == ("both.pem", "both.pem")


def test_tls_files_second_positional_field_is_the_key() -> None:
    """`ssl:443:server.pem` names the key file positionally."""
    assert tls_files("ssl:443:server.pem") == ("server.pem", "server.pem")


def test_tls_files_default_key_is_server_pem() -> None:
    """A bare `ssl:443` uses Twisted's default file, server.pem."""
    assert tls_files("ssl:443") == ("server.pem", "server.pem")


def test_check_accepts_a_matching_pair(tmp_path: Path) -> None:
    """A PEM key with its own certificate passes."""
    key, cert = write_pair(tmp_path)
    check_tls_endpoint(f"ssl:0:privateKey={key}:certKey={cert}")


def test_check_accepts_key_and_certificate_in_one_file(tmp_path: Path) -> None:
    """One PEM file holding the certificate and the key passes."""
    key = make_key()
    both = tmp_path / "both.pem"
    both.write_bytes(certificate_pem(key) + key_pem(key))
    check_tls_endpoint(f"ssl:0:privateKey={both}")


def test_check_names_a_missing_key_file(tmp_path: Path) -> None:
    """A key file that does not exist is named with the reason."""
    _, cert = write_pair(tmp_path)
    with pytest.raises(TLSConfigError, match=r"privateKey .*nokey\.pem: No such file"):
        check_tls_endpoint(f"ssl:0:privateKey={tmp_path}/nokey.pem:certKey={cert}")


def test_check_names_a_missing_certificate_file(tmp_path: Path) -> None:
    """A certificate file that does not exist is named with the reason."""
    key, _ = write_pair(tmp_path)
    with pytest.raises(TLSConfigError, match=r"certKey .*nocert\.pem: No such file"):
        check_tls_endpoint(f"ssl:0:privateKey={key}:certKey={tmp_path}/nocert.pem")


def test_check_refuses_a_certificate_given_as_key(tmp_path: Path) -> None:
    """A file without a private key is refused as privateKey."""
    _, cert = write_pair(tmp_path)
    with pytest.raises(TLSConfigError, match="holds no usable PEM private key"):
        check_tls_endpoint(f"ssl:0:privateKey={cert}:certKey={cert}")


def test_check_refuses_a_key_given_as_certificate(tmp_path: Path) -> None:
    """A file without a certificate is refused as certKey."""
    key, _ = write_pair(tmp_path)
    with pytest.raises(TLSConfigError, match="holds no PEM certificate"):
        check_tls_endpoint(f"ssl:0:privateKey={key}:certKey={key}")


def test_check_refuses_garbage_key(tmp_path: Path) -> None:
    """A file that is not PEM at all is refused."""
    _, cert = write_pair(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x00\xffnot a key")
    with pytest.raises(TLSConfigError, match=r"junk\.pem holds no usable PEM private key"):
        check_tls_endpoint(f"ssl:0:privateKey={junk}:certKey={cert}")


def test_check_refuses_an_encrypted_key(tmp_path: Path) -> None:
    """A passphrase-protected key cannot be used unattended, and the error says so."""
    key = make_key()
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    cert = tmp_path / "cert.pem"
    cert.write_bytes(certificate_pem(key))
    with pytest.raises(TLSConfigError, match="is encrypted"):
        check_tls_endpoint(f"ssl:0:privateKey={locked}:certKey={cert}")


def test_check_refuses_a_certificate_of_another_key(tmp_path: Path) -> None:
    """A certificate that does not belong to the key is refused, naming both files."""
    key, _ = write_pair(tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(certificate_pem(make_key()))
    with pytest.raises(TLSConfigError, match="does not match the private key"):
        check_tls_endpoint(f"ssl:0:privateKey={key}:certKey={other}")


def test_every_error_is_one_line(tmp_path: Path) -> None:
    """The start-up error stays on one line, whatever the problem."""
    with pytest.raises(TLSConfigError) as raised:
        check_tls_endpoint(f"ssl:0:privateKey={tmp_path}/missing.pem")
    assert "\n" not in str(raised.value)
