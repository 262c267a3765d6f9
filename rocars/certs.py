"""X.509 pieces shared by the broker's TLS files (``rocars.brokertls``) and the simulated
centre's driver certificates (``hardware_sim.certs``)."""

from __future__ import annotations

from cryptography import x509

_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(**bits: bool) -> x509.KeyUsage:
    """A KeyUsage with only the named bits set (``digital_signature=True``...); an
    unknown name is a TypeError."""
    return x509.KeyUsage(**(dict.fromkeys(_KEY_USAGE_BITS, False) | bits))
