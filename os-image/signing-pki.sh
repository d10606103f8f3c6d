#!/usr/bin/env bash
# A throwaway bundle-signing PKI for development and tests: an EC P-256 CA (a device's RAUC keyring) and a signer
# certificate it issued, as a build machine's release key would be. A real release key is never made this way.
#
#   bash os-image/signing-pki.sh DIR NAME   # DIR/ca.cert.pem, DIR/signer.cert.pem, DIR/signer.key.pem; NAME goes
#                                           # into the subjects. Keeps a PKI already in DIR.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

dir=${1:-}; name=${2:-}
[ -n "$dir" ] && [ -n "$name" ] || die "usage: os-image/signing-pki.sh DIR NAME"
[ -f "$dir/signer.cert.pem" ] && exit 0
mkdir -p "$dir"
days=3650
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key.pem" -out "$dir/ca.cert.pem" -days $days \
  -subj "/O=Skiff test/CN=$name CA" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || die "openssl could not make the CA in $dir"
openssl req "${ec[@]}" -keyout "$dir/signer.key.pem" -out "$dir/signer.csr" \
  -subj "/O=Skiff test/CN=$name bundle signer" 2>/dev/null || die "openssl could not make the signer key in $dir"
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$dir/signer.ext"
openssl x509 -req -in "$dir/signer.csr" -CA "$dir/ca.cert.pem" -CAkey "$dir/ca.key.pem" -CAcreateserial \
  -out "$dir/signer.cert.pem" -days $days -extfile "$dir/signer.ext" 2>/dev/null ||
  die "openssl could not issue the signer certificate in $dir"
