# SPDX-License-Identifier: GPL-2.0-or-later
"""A throwaway PKI: one CA, a server certificate and client certificates.

ECDSA P-256 keys. The server certificate has extendedKeyUsage serverAuth and
the client certificates clientAuth, both with keyUsage digitalSignature, so
OpenVPN's remote-cert-tls checks pass exactly as with easy-rsa's output.
"""
import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class PKI:
    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.ca = os.path.join(path, "ca.crt")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=vpcroute test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=path)
        self._serial = 1

    def issue(self, cn, server=False):
        """Returns (cert path, key path) for the common name (issued once)."""
        crt, key = os.path.join(self.path, f"{cn}.crt"), os.path.join(self.path, f"{cn}.key")
        if os.path.exists(crt):
            return crt, key
        ext = os.path.join(self.path, f"{cn}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n")
        self._serial += 1
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{cn}.key", "-out", f"{cn}.csr", "-subj", f"/CN={cn}", cwd=self.path)
        _openssl("x509", "-req", "-in", f"{cn}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-set_serial", str(self._serial), "-days", "2", "-extfile", ext,
                 "-out", f"{cn}.crt", cwd=self.path)
        return os.path.join(self.path, f"{cn}.crt"), os.path.join(self.path, f"{cn}.key")
